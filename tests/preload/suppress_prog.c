/*
 * suppress_prog.c: an ordinary program (no arheap in it) linked with the
 * third-party-like libthird.so (suppress_lib.c); tests/preload/suppress.sh
 * runs it under the preload library with suppression files.
 *
 *   suppress_prog leak         the library leaks 2 x 100 bytes, the
 *                              program 32 bytes of its own
 *   suppress_prog double-free  the library frees a block twice
 *   suppress_prog stdout       prints to stdout, whose buffer glibc
 *                              allocates and keeps to the end
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vendor_init(void);
void vendor_legacy_release(void);

void *volatile prog_keep;

__attribute__((noinline)) static void own_leak(void)
{
    prog_keep = malloc(32);
    prog_keep = NULL;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "leak") == 0) {
        vendor_init();
        vendor_init();
        own_leak();
    } else if (argc == 2 && strcmp(argv[1], "double-free") == 0) {
        vendor_legacy_release();
    } else if (argc == 2 && strcmp(argv[1], "stdout") == 0) {
        printf("to stdout\n");
    } else {
        fprintf(stderr, "usage: %s leak|double-free|stdout\n", argv[0]);
        return 2;
    }
    /* stderr: unbuffered, so libc allocates no buffer that would stay
     * live at exit (stdout's would be listed as a leak). */
    fputs("done\n", stderr);
    return 0;
}
