#include "SOGFreeSpaceSum.h"
#include <cmath>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

SOGFreeSpaceSum::SOGFreeSpaceSum(const SOGKernelParameters& parameters) : kernel(parameters) {
}

double SOGFreeSpaceSum::calculate(const vector<Vec3>& positions, const vector<double>& charges, vector<Vec3>* forces,
        vector<double>* chargeDerivatives) const {
    const int n = positions.size();
    const int p = kernel.getNumChannels();
    if (forces != nullptr)
        forces->assign(n, Vec3());
    if (chargeDerivatives != nullptr)
        chargeDerivatives->assign(n*p, 0.0);
    vector<double> g(p), dgdr2(p);
    double energy = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = i+1; j < n; j++) {
            const Vec3 delta = positions[i]-positions[j];
            const double r2 = delta.dot(delta);
            const double dEdr2 = kernel.addPair(r2, i, j, charges, energy, chargeDerivatives, g.data(), dgdr2.data());
            if (forces != nullptr) {
                // F_i = -dE/dr_i = -2 dE/d(r^2) (r_i - r_j)
                const Vec3 f = delta*(-2.0*dEdr2);
                (*forces)[i] += f;
                (*forces)[j] -= f;
            }
        }
    return energy;
}
