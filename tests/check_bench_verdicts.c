/*
 * check_bench_verdicts.c: how `make bench` (bench/run.c) reads a run's
 * noise into its verdicts: the round-by-round range of a ratio, a row's
 * spread, and the words a verdict gets when its figures' rounds fall on
 * both sides of the bound. The driver's source is included whole, its
 * main renamed, so that its static functions are the ones tested.
 */
int bench_run__main(int argc, char **argv);
#define main bench_run__main
#include "../bench/run.c"
#undef main

#include <check.h>

/* A cell of `n` complete runs taking seconds[i] for 1000 operations. */
static struct cell make_cell(const double *seconds, unsigned n)
{
    struct cell c;
    memset(&c, 0, sizeof c);
    c.state = CELL_OK;
    c.runs = n;
    for (unsigned i = 0; i < n; i++) {
        c.seconds[i] = seconds[i];
        c.ops[i] = 1000;
    }
    return c;
}

/* The cores a run counts are those it may run on: pinned to one CPU,
 * one (the scaling targets are then not measurable). Until stop 42 the
 * machine's were counted. */
START_TEST(the_cores_counted_are_the_ones_the_process_may_use)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    ck_assert_int_eq(sched_getaffinity(0, sizeof one, &one), 0);
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &one))
            first = c;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
    ck_assert_int_eq(usable_cores(), 1);
}
END_TEST

START_TEST(a_ratio_ranges_over_its_rounds_paired)
{
    static const double base_s[] = {1.0, 2.0, 1.0};
    static const double v_s[] = {1.2, 3.2, 1.4}; /* 1.2, 1.6, 1.4 round by round */
    struct cell base = make_cell(base_s, 3), v = make_cell(v_s, 3);
    double lo = 0, hi = 0;
    ck_assert_uint_eq(ratio_range(&v, &base, &lo, &hi), 3);
    ck_assert_double_eq_tol(lo, 1.2, 1e-9);
    ck_assert_double_eq_tol(hi, 1.6, 1e-9);
}
END_TEST

START_TEST(a_ratio_has_no_range_without_two_full_rounds)
{
    static const double s[] = {1.0, 1.0};
    struct cell base = make_cell(s, 2), v = make_cell(s, 1);
    double lo = -1, hi = -1;
    ck_assert_uint_eq(ratio_range(&v, &base, &lo, &hi), 0);
    v = make_cell(s, 2);
    v.partial = 1; /* a run stopped at the deadline: a rate, not rounds */
    ck_assert_uint_eq(ratio_range(&v, &base, &lo, &hi), 0);
    ck_assert_double_eq(lo, -1);
}
END_TEST

START_TEST(a_rows_spread_is_its_slowest_run_over_its_fastest)
{
    static const double s[] = {1.0, 1.2, 1.1, 1.5};
    struct cell c = make_cell(s, 4);
    ck_assert_double_eq_tol(run_spread(&c), 1.5, 1e-9);
    c.runs = 1;
    ck_assert(run_spread(&c) < 0);
}
END_TEST

/* One figure against a bound of 1.5: the verdict's words and its list. */
static void judge(double figure, double lo, double hi, const char *word, int bracketed)
{
    struct verdict vd;
    memset(&vd, 0, sizeof vd);
    double range[2] = {lo, hi};
    verdict_add(&vd, "small", figure, 0, 1.5, range);
    ck_assert_str_eq(verdict_word(&vd), word);
    ck_assert_msg((strchr(vd.list, '[') != NULL) == bracketed, "list: %s", vd.list);
}

START_TEST(a_verdict_says_when_it_rests_on_noise)
{
    judge(1.40, 1.30, 1.45, "met", 0);
    judge(1.55, 1.52, 1.70, "NOT met", 0);
    judge(1.40, 1.20, 1.60,
          "met, within this run's noise (1 figure beyond the bound in some rounds)", 1);
    judge(1.55, 1.45, 1.70,
          "NOT met, within this run's noise (each figure beyond the bound was within it in "
          "some rounds)",
          1);
}
END_TEST

START_TEST(a_firm_failure_is_not_called_noise)
{
    struct verdict vd;
    memset(&vd, 0, sizeof vd);
    double noisy[2] = {1.45, 1.70}, firm[2] = {1.60, 1.90};
    verdict_add(&vd, "small", 1.55, 0, 1.5, noisy);
    verdict_add(&vd, "strdup", 1.70, 0, 1.5, firm);
    ck_assert_str_eq(verdict_word(&vd), "NOT met");
    ck_assert_msg(strstr(vd.list, "small 1.55 [1.45-1.70]") != NULL, "list: %s", vd.list);
    ck_assert_msg(strstr(vd.list, "strdup 1.70") != NULL &&
                      strstr(vd.list, "[1.60") == NULL,
                  "list: %s", vd.list);
}
END_TEST

static Suite *bench_suite(void)
{
    Suite *s = suite_create("bench verdicts");
    TCase *tc = tcase_create("noise");
    tcase_add_test(tc, the_cores_counted_are_the_ones_the_process_may_use);
    tcase_add_test(tc, a_ratio_ranges_over_its_rounds_paired);
    tcase_add_test(tc, a_ratio_has_no_range_without_two_full_rounds);
    tcase_add_test(tc, a_rows_spread_is_its_slowest_run_over_its_fastest);
    tcase_add_test(tc, a_verdict_says_when_it_rests_on_noise);
    tcase_add_test(tc, a_firm_failure_is_not_called_noise);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bench_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
