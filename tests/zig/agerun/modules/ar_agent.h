/* ar_agent.h: an agent with a name and a memory of strings (C). */
#ifndef AR_LAYOUT_AGENT_H
#define AR_LAYOUT_AGENT_H

#include "ar_list.h"

typedef struct ar_agent_s ar_agent_t;

ar_agent_t *ar_agent__create(const char *name);
int ar_agent__remember(ar_agent_t *agent, const char *fact);
size_t ar_agent__memories(const ar_agent_t *agent);
const char *ar_agent__name(const ar_agent_t *agent);
void ar_agent__destroy(ar_agent_t *agent);

#endif /* AR_LAYOUT_AGENT_H */
