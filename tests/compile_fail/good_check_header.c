/* ar_heap_check.h, the Check fixture and assertion, used as documented:
 * must compile with -Werror under -std=c11 -pedantic in both modes. */
#include "ar_heap_check.h"

void good_check_header(TCase *tc);

START_TEST(leak_free_test)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    char *p = AR__HEAP__MALLOC(8, "scratch");
    AR__HEAP__FREE(p);
    AR__HEAP__ASSERT_NO_LEAKS(mark);
}
END_TEST

void good_check_header(TCase *tc)
{
    tcase_add_checked_fixture(tc, ar_heap_check__setup, ar_heap_check__teardown);
    tcase_add_test(tc, leak_free_test);
}
