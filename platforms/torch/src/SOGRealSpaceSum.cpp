#include "SOGRealSpaceSum.h"
#include "openmm/OpenMMException.h"
#include <cmath>
#include <string>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

SOGRealSpaceSum::SOGRealSpaceSum(const SOGKernelParameters& parameters, double cutoff) :
        kernel(parameters), transformAtZero(parameters.numChannels, 0.0), cutoff(cutoff) {
    for (int l = 0; l < parameters.getNumGaussians(); l++) {
        const double width = parameters.widths[l];
        transformAtZero[parameters.channels[l]] += parameters.weights[l]*pow(M_PI, 1.5)*width*width*width;
    }
}

double SOGRealSpaceSum::calculate(const SOGPairSeparations& pairs, const Vec3* boxVectors, const vector<double>& charges,
        vector<Vec3>* forces, vector<double>* chargeDerivatives) const {
    const int p = kernel.getNumChannels();
    const int n = charges.size()/p;
    const double cutoff2 = cutoff*cutoff;
    vector<double> g(p), dgdr2(p);
    double energy = 0.0;
    // Every pair is listed in both orders (an atom's own images at S and -S): each is summed
    // once, from the entry with i < j (i = j: the image whose first non-zero separation
    // component is positive), which skips the exponentials of the other.
    for (int k = 0; k < pairs.size(); k++) {
        const int64_t i = pairs.first[k], j = pairs.second[k];
        if (i < 0 || j < 0 || i >= n || j >= n)
            throw OpenMMException("TorchSOGForce: the model returned a neighbour pair (" + to_string(i) + ", " +
                    to_string(j) + ") outside its " + to_string(n) + " particles");
        const double* separation = &pairs.separations[3*k];
        if (j < i)
            continue;
        if (j == i) {
            const double first = (separation[0] != 0.0 ? separation[0] : separation[1] != 0.0 ? separation[1] : separation[2]);
            if (!(first > 0.0))
                continue;
        }
        const double r2 = separation[0]*separation[0]+separation[1]*separation[1]+separation[2]*separation[2];
        if (!(r2 < cutoff2))
            continue;
        const double dEdr2 = kernel.addPair(r2, i, j, charges, energy, chargeDerivatives, g.data(), dgdr2.data());
        if (forces != nullptr && i != j) {
            // d = r_j - r_i + S h: F_i = -dE/dr_i = 2 dE/d(r^2) d, F_j = -F_i (an atom's own
            // image: its separation does not depend on it)
            const Vec3 f = Vec3(separation[0], separation[1], separation[2])*(2.0*dEdr2);
            (*forces)[i] += f;
            (*forces)[j] -= f;
        }
    }
    // The neutralising background of a net charge in each channel.
    const double volume = fabs(boxVectors[0].dot(boxVectors[1].cross(boxVectors[2])));
    for (int c = 0; c < p; c++) {
        double total = 0.0;
        for (int i = 0; i < n; i++)
            total += charges[i*p+c];
        energy -= total*total*transformAtZero[c]/(2.0*volume);
        if (chargeDerivatives != nullptr)
            for (int i = 0; i < n; i++)
                (*chargeDerivatives)[i*p+c] -= total*transformAtZero[c]/volume;
    }
    return energy;
}
