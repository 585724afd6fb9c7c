/* ar_agent.c: C over the Zig list, both on the one tracked heap. */
#include "ar_agent.h"

#include <string.h>

#include "ar_heap.h"

struct ar_agent_s {
    char *own_name;
    ar_list_t *own_memory;
};

ar_agent_t *ar_agent__create(const char *name)
{
    ar_agent_t *own_agent = AR__HEAP__MALLOC(sizeof(ar_agent_t), "agent");
    if (own_agent == NULL)
        return NULL;
    own_agent->own_name = AR__HEAP__STRDUP(name, "agent name");
    own_agent->own_memory = ar_list__create();
    if (own_agent->own_name == NULL || own_agent->own_memory == NULL) {
        ar_agent__destroy(own_agent);
        return NULL;
    }
    return own_agent;
}

int ar_agent__remember(ar_agent_t *agent, const char *fact)
{
    return ar_list__add(agent->own_memory, fact);
}

size_t ar_agent__memories(const ar_agent_t *agent)
{
    return ar_list__count(agent->own_memory);
}

const char *ar_agent__name(const ar_agent_t *agent)
{
    return agent->own_name;
}

void ar_agent__destroy(ar_agent_t *agent)
{
    if (agent == NULL)
        return;
    ar_list__destroy(agent->own_memory);
    AR__HEAP__FREE(agent->own_name);
    AR__HEAP__FREE(agent);
}
