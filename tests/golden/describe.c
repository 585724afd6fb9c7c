/* describe.c: what ar_heap__describe() says of addresses (linked only:
 * the preload library exports only the malloc family): inside a live
 * block, in its tail and head canaries, inside a freed block held in the
 * quarantine, and a global arheap knows nothing of. */
#include "golden.h"

#ifdef GOLDEN_LINKED
static char golden_global[8];

void golden_describe(void)
{
    char *greeting = G_MALLOC(13, "greeting");
    char *session = golden_opaque(G_MALLOC(24, "session"));
    G_FREE(session);
    ar_heap__describe(greeting + 4);
    ar_heap__describe(greeting + 13);
    ar_heap__describe(greeting - 2);
    ar_heap__describe((char *)golden_stale() + 2);
    ar_heap__describe(golden_global);
    G_FREE(greeting);
}
#endif
