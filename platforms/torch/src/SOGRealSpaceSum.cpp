#include "SOGRealSpaceSum.h"
#include "SOGNeighborPairs.h"
#include <cmath>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

SOGRealSpaceSum::SOGRealSpaceSum(const SOGKernelParameters& parameters, double cutoff) :
        transformAtZero(parameters.numChannels, 0.0), numChannels(parameters.numChannels), cutoff(cutoff) {
    for (int l = 0; l < parameters.getNumGaussians(); l++) {
        const double width = parameters.widths[l];
        terms.push_back(Term{parameters.weights[l], 1.0/(width*width), parameters.channels[l]});
        transformAtZero[parameters.channels[l]] += parameters.weights[l]*pow(M_PI, 1.5)*width*width*width;
    }
}

double SOGRealSpaceSum::calculate(const vector<Vec3>& positions, const Vec3* boxVectors, const vector<double>& charges,
        vector<Vec3>* forces, vector<double>* chargeDerivatives) const {
    const int n = positions.size();
    const int p = numChannels;
    vector<double> coordinates(3*n);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 3; d++)
            coordinates[3*i+d] = positions[i][d];
    double cell[9];
    for (int a = 0; a < 3; a++)
        for (int d = 0; d < 3; d++)
            cell[3*a+d] = boxVectors[a][d];
    vector<double> g(p), dgdr2(p);
    double energy = 0.0;
    // The list holds every pair in both orders (and an atom's images at n and -n): each pair is
    // summed once, from the visit with i < j (i = j: the image whose first non-zero shift is
    // positive), which skips the exponentials of the other.
    visitNeighborPairs(coordinates, cell, cutoff, [&](int i, int j, const int* shift, const double* separation) {
        if (j < i)
            return;
        if (j == i) {
            const int first = (shift[0] != 0 ? shift[0] : shift[1] != 0 ? shift[1] : shift[2]);
            if (first < 0)
                return;
        }
        const double r2 = separation[0]*separation[0]+separation[1]*separation[1]+separation[2]*separation[2];
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
        if (forces != nullptr && i != j) {
            // d = r_j - r_i + n: F_i = -dE/dr_i = 2 dE/d(r^2) d, F_j = -F_i (an atom's own image:
            // its separation does not depend on it)
            const Vec3 f = Vec3(separation[0], separation[1], separation[2])*(2.0*dEdr2);
            (*forces)[i] += f;
            (*forces)[j] -= f;
        }
    });
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
