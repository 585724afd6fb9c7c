/* clean_realloc: heavy realloc, strdup and calloc with every byte read
 * only after it was written; frees everything. No bug. */
#include <stdio.h>
#include <string.h>

#include "cross.h"

#define ROUNDS 300

int main(void)
{
    size_t len = 0;
    char *text = NULL;
    char *words[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        char word[32];
        int n = snprintf(word, sizeof word, "word%d ", i);
        words[i] = AR__HEAP__STRDUP(word, "word copy");
        /* grow by a few bytes at a time: each realloc moves the block */
        char *grown = AR__HEAP__REALLOC(text, len + (size_t)n + 1, "text");
        if (grown == NULL || words[i] == NULL)
            return 2;
        text = grown;
        memcpy(text + len, words[i], (size_t)n + 1);
        len += (size_t)n;
    }
    /* shrink, then check what is left against the words */
    size_t keep = strlen(words[0]) + strlen(words[1]);
    text = AR__HEAP__REALLOC(text, keep + 1, "text");
    text[keep] = '\0';
    int bad = strncmp(text, "word0 word1 ", keep) != 0;
    unsigned *zeros = AR__HEAP__CALLOC(ROUNDS, sizeof *zeros, "zeros");
    for (int i = 0; i < ROUNDS; i++)
        bad |= zeros[i] != 0;
    for (int i = 0; i < ROUNDS; i++)
        AR__HEAP__FREE(words[i]);
    AR__HEAP__FREE(zeros);
    AR__HEAP__FREE(text);
    return bad;
}
