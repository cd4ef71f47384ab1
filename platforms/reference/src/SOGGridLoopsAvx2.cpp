/*
 * The grid loops for x86-64 processors with AVX2 and FMA: this source is compiled with -mavx2
 * -mfma (platforms/reference/CMakeLists.txt) and runs only where selectGridLoops() found both.
 */
#define SOG_GRID_ISA avx2
#define SOG_GRID_ISA_NAME "avx2"
#define SOG_GRID_VECTOR_BYTES 32
#include "SOGGridLoopsImpl.h"
