// Links a C++ program against libsimdiff through the umbrella header: if a
// header lost its extern "C" guard the names would be mangled and this would
// not link. Exits 0 when the calls work.
#include <simdiff/simdiff.h>

#include <cstdio>
#include <cstring>

int main()
{
    if (simdiff_version_number() != SIMDIFF_VERSION_NUMBER) return 1;
    if (std::strcmp(simdiff_status_str(SIMDIFF_OK), "ok") != 0) return 1;
    std::printf("%s\n", simdiff_runtime_info());
    return 0;
}
