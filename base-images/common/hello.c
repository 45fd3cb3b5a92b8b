/* Compiled and run inside the image by the image's own gcc. */
#include <stdio.h>
#include <sys/utsname.h>

int main(void) {
    struct utsname u;
    if (uname(&u) != 0) return 1;
    printf("XB hello-c=%s %zu-bit\n", u.machine, sizeof(void *) * 8);
    return 0;
}
