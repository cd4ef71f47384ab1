/*
 * Runs the shared SOGForce tests (tests/TestSOGForce.h) on the OpenCL platform in the precision
 * given as the first argument (single, mixed or double), and compares with the Reference platform.
 */
#include "TestSOGForce.h"

void initializeTests(int argc, char* argv[]) {
    Platform::loadPluginLibrary(OPENMM_OPENCL_PLUGIN);
    Platform::loadPluginLibrary(SOG_OPENCL_PLUGIN);
    platform = &Platform::getPlatformByName("OpenCL");
    setPrecision(*platform, argc, argv);
}

void runPlatformTests() {
}
