/* read_after_free: a field read through a pointer kept after its block
 * was freed. */
#include "cross.h"

struct agent {
    int id;
    int score;
};

int main(void)
{
    struct agent *a = cross__launder(AR__HEAP__MALLOC(sizeof *a, "agent")); /* ALLOC-SITE */
    a->id = 7;
    a->score = 42;
    struct agent *stale = cross__launder(a); /* a pointer kept */
    AR__HEAP__FREE(a);
    int score = stale->score; /* BUG: read after free */
    return score == 12345;
}
