/* track_main.c: runs one scenario of track.zig, named by argv[1]. */
#include <stdio.h>
#include <string.h>

#include <arheap/ar_heap.h>

int track_leaks(void);
void *track_clean(void *from_c);
int track_overflow(void);
int track_double_free(void);

int main(int argc, char **argv)
{
    if (argc != 2)
        return 64;
    if (strcmp(argv[1], "leaks") == 0)
        return track_leaks();
    if (strcmp(argv[1], "clean") == 0) {
        void *from_zig = track_clean(AR__HEAP__MALLOC(24, "C block"));
        if (from_zig == NULL)
            return 1;
        AR__HEAP__FREE(from_zig);
        return 0;
    }
    if (strcmp(argv[1], "overflow") == 0)
        return track_overflow();
    if (strcmp(argv[1], "double-free") == 0)
        return track_double_free();
    return 64;
}
