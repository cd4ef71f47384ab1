#include "SOGFreeSpaceSum.h"
#include <cmath>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

SOGFreeSpaceSum::SOGFreeSpaceSum(const SOGKernelParameters& parameters) : numChannels(parameters.numChannels) {
    for (int l = 0; l < parameters.getNumGaussians(); l++)
        terms.push_back(Term{parameters.weights[l], 1.0/(parameters.widths[l]*parameters.widths[l]), parameters.channels[l]});
}

double SOGFreeSpaceSum::calculate(const vector<Vec3>& positions, const vector<double>& charges, vector<Vec3>* forces,
        vector<double>* chargeDerivatives) const {
    const int n = positions.size();
    const int p = numChannels;
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
            for (int c = 0; c < p; c++)
                g[c] = dgdr2[c] = 0.0;
            for (const Term& term : terms) {
                const double value = term.weight*exp(-r2*term.inverseWidth2);
                g[term.channel] += value;
                dgdr2[term.channel] -= value*term.inverseWidth2;
            }
            double dEdr2 = 0.0;
            for (int c = 0; c < p; c++) {
                const double qi = charges[i*p+c], qj = charges[j*p+c];
                energy += qi*qj*g[c];
                dEdr2 += qi*qj*dgdr2[c];
                if (chargeDerivatives != nullptr) {
                    (*chargeDerivatives)[i*p+c] += qj*g[c];
                    (*chargeDerivatives)[j*p+c] += qi*g[c];
                }
            }
            if (forces != nullptr) {
                // F_i = -dE/dr_i = -2 dE/d(r^2) (r_i - r_j)
                const Vec3 f = delta*(-2.0*dEdr2);
                (*forces)[i] += f;
                (*forces)[j] -= f;
            }
        }
    return energy;
}
