/* ar_agent_tests.c: a test program as AgeRun writes them: asserts, and
 * the report file checked afterwards by the build. An argument plants a
 * bug: "leak" (a Zig block never freed) or "double-free" (in Zig). */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "ar_agent.h"
#include "ar_heap.h"

static void test_agent_remembers_facts(void)
{
    ar_agent_t *own_agent = ar_agent__create("echo");
    assert(own_agent != NULL);
    for (int i = 0; i < 10; i++) {
        char fact[32];
        snprintf(fact, sizeof fact, "fact %d", i);
        assert(ar_agent__remember(own_agent, fact));
    }
    assert(ar_agent__memories(own_agent) == 10);
    assert(strcmp(ar_agent__name(own_agent), "echo") == 0);
    ar_agent__destroy(own_agent);
}

int main(int argc, char **argv)
{
    test_agent_remembers_facts();
    /* AgeRun keeps such a block to prove that leak detection works. */
    char *own_marker = AR__HEAP__STRDUP("kept", "INTENTIONAL_LEAK_FOR_TESTING marker");
    assert(own_marker != NULL);
    if (argc > 1 && strcmp(argv[1], "leak") == 0)
        ar_list__leak_one("planted leak");
    if (argc > 1 && strcmp(argv[1], "double-free") == 0)
        ar_list__free_twice();
    printf("All ar_agent tests passed!\n");
    return 0;
}
