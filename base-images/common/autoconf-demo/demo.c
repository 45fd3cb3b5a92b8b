#include <stdio.h>

int main(void) {
#if defined(HAVE_UNAME) && defined(HAVE_SYS_UTSNAME_H)
    printf("XB configure-demo=uname:yes sizeof(long)=%d\n", SIZEOF_LONG);
#else
    printf("XB configure-demo=uname:no sizeof(long)=%d\n", SIZEOF_LONG);
#endif
    return 0;
}
