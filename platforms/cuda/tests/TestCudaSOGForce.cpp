/*
 * Runs the shared SOGForce tests (tests/TestSOGForce.h) on the CUDA platform in the precision
 * given as the first argument (single, mixed or double), and compares with the Reference platform.
 */
#include "TestSOGForce.h"

void initializeTests(int argc, char* argv[]) {
    try {
        Platform::loadPluginLibrary(OPENMM_CUDA_PLUGIN);
        Platform::loadPluginLibrary(SOG_CUDA_PLUGIN);
        platform = &Platform::getPlatformByName("CUDA");
        System system;
        system.addParticle(1.0);
        VerletIntegrator integrator(0.001);
        Context context(system, integrator, *platform); // fails without a CUDA device
    }
    catch (const exception& e) {
        cout << "SKIPPED: the CUDA platform is not usable here: " << e.what() << endl;
        exit(77);
    }
    setPrecision(*platform, argc, argv);
}

void runPlatformTests() {
}
