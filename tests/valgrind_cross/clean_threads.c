/* clean_threads: four threads allocate, resize and free concurrently, and
 * blocks allocated by one thread are freed by another. No bug. */
#include <pthread.h>
#include <string.h>

#include "cross.h"

#define THREADS 4
#define BLOCKS 200

static char *handed[THREADS][BLOCKS]; /* allocated by worker t, freed by main */

static void *worker(void *arg)
{
    int t = *(const int *)arg;
    for (int i = 0; i < BLOCKS; i++) {
        char *p = AR__HEAP__MALLOC((size_t)(i % 97) + 1, "scratch");
        memset(p, 'a' + t, (size_t)(i % 97) + 1);
        p = AR__HEAP__REALLOC(p, (size_t)(i % 97) + 33, "scratch");
        AR__HEAP__FREE(p);
        handed[t][i] = AR__HEAP__STRDUP("handed over", "handed");
    }
    return NULL;
}

int main(void)
{
    pthread_t threads[THREADS];
    int ids[THREADS];
    for (int t = 0; t < THREADS; t++) {
        ids[t] = t;
        if (pthread_create(&threads[t], NULL, worker, &ids[t]) != 0)
            return 2;
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    int bad = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < BLOCKS; i++) {
            bad |= strcmp(handed[t][i], "handed over") != 0;
            AR__HEAP__FREE(handed[t][i]);
        }
    return bad;
}
