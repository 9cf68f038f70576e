/* simdiff-info: print what libsimdiff runs on. */
#include <stdio.h>

#include <simdiff/simdiff.h>

int main(void)
{
    printf("%s\n", simdiff_runtime_info());
    return 0;
}
