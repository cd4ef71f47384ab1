#include "SOGRealSpaceSum.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

template <class Real>
void SOGPlugin::selectPairs(const int64_t* first, const int64_t* second, const Real* separations, int64_t count,
        int numParticles, double unitsPerNm, double cutoff, SOGPairSeparations& pairs) {
    if (count > (int64_t) numeric_limits<int>::max())
        throw OpenMMException("TorchSOGForce: the model returned " + to_string(count) + " neighbour pairs, more than " +
                to_string(numeric_limits<int>::max()) + " (too many atoms for a cutoff this long)");
    // At most every entry is kept. The arrays only grow: shrinking them to the pairs kept would
    // clear the rest again on the next call (8 MB at 24,000 atoms).
    if ((int64_t) pairs.first.size() < count) {
        pairs.first.resize(count);
        pairs.second.resize(count);
        pairs.separations.resize(3*count);
        pairs.squaredDistances.resize(count);
    }
    const double cutoff2 = cutoff*cutoff;
    int kept = 0;
    for (int64_t k = 0; k < count; k++) {
        const int64_t i = first[k], j = second[k];
        if (i < 0 || j < 0 || i >= numParticles || j >= numParticles)
            throw OpenMMException("TorchSOGForce: the model returned a neighbour pair (" + to_string(i) + ", " +
                    to_string(j) + ") outside its " + to_string(numParticles) + " particles");
        if (j < i)
            continue;
        const double x = separations[3*k]/unitsPerNm, y = separations[3*k+1]/unitsPerNm, z = separations[3*k+2]/unitsPerNm;
        if (j == i) {
            // of the images S and -S, the one whose first non-zero component is positive
            const double leading = (x != 0.0 ? x : y != 0.0 ? y : z);
            if (!(leading > 0.0))
                continue;
        }
        const double r2 = x*x + y*y + z*z;
        if (!(r2 < cutoff2))
            continue;
        pairs.first[kept] = (int) i;
        pairs.second[kept] = (int) j;
        pairs.separations[3*kept] = x;
        pairs.separations[3*kept+1] = y;
        pairs.separations[3*kept+2] = z;
        pairs.squaredDistances[kept] = r2;
        kept++;
    }
    pairs.count = kept;
}

template void SOGPlugin::selectPairs<float>(const int64_t*, const int64_t*, const float*, int64_t, int, double, double,
        SOGPairSeparations&);
template void SOGPlugin::selectPairs<double>(const int64_t*, const int64_t*, const double*, int64_t, int, double, double,
        SOGPairSeparations&);

SOGRealSpaceSum::SOGRealSpaceSum(const SOGKernelParameters& parameters, double cutoff) :
        kernel(parameters), transformAtZero(parameters.numChannels, 0.0), cutoff(cutoff) {
    for (int l = 0; l < parameters.getNumGaussians(); l++) {
        const double width = parameters.widths[l];
        transformAtZero[parameters.channels[l]] += parameters.weights[l]*pow(M_PI, 1.5)*width*width*width;
    }
}

/*
 * The pair sum of calculate() with P = CHANNELS (1), or with any P (CHANNELS = 0). The one-channel
 * version keeps g and dg/d(r^2) in registers, which the general one cannot (a channel index per
 * Gaussian): twice as fast for a one-channel model (the shipped electrolyte model's two Gaussians
 * over its 204,713 pairs at 24,000 ions: 4.5 against 8.9 ms, one Intel Xeon core).
 */
template <int CHANNELS>
static double sumPairs(const SOGPairSeparations& pairs, const SOGPairKernel& kernel, const vector<double>& charges,
        vector<Vec3>* forces, vector<double>* chargeDerivatives) {
    const int p = (CHANNELS != 0 ? CHANNELS : kernel.getNumChannels());
    const vector<SOGPairKernel::Term>& terms = kernel.getTerms();
    const int numTerms = terms.size();
    const int numPairs = pairs.size();
    // The exponentials of a block of pairs first, in a loop that does nothing else (the calls
    // overlap), then the sums. The model lists the pairs by i: what i receives is summed here
    // until i changes, so that only j's entries are written at scattered places.
    const int BLOCK = 64;
    vector<double> exponentials(numTerms*BLOCK);
    vector<double> g(p), dgdr2(p), potentialOfCurrent(p, 0.0);
    int current = -1;           // the i whose force and dE/dq are being summed
    Vec3 forceOnCurrent;
    auto flush = [&]() {
        if (current < 0)
            return;
        if (forces != nullptr)
            (*forces)[current] += forceOnCurrent;
        if (chargeDerivatives != nullptr)
            for (int c = 0; c < p; c++)
                (*chargeDerivatives)[current*p+c] += potentialOfCurrent[c];
    };
    double energy = 0.0;
    for (int start = 0; start < numPairs; start += BLOCK) {
        const int count = min(BLOCK, numPairs - start);
        const double* r2 = &pairs.squaredDistances[start];
        for (int l = 0; l < numTerms; l++)
            for (int b = 0; b < count; b++)
                exponentials[l*BLOCK + b] = exp(-r2[b]*terms[l].inverseWidth2);
        for (int b = 0; b < count; b++) {
            const int k = start + b;
            const int i = pairs.first[k], j = pairs.second[k];
            if (i != current) {
                flush();
                current = i;
                forceOnCurrent = Vec3();
                fill(potentialOfCurrent.begin(), potentialOfCurrent.end(), 0.0);
            }
            double dEdr2 = 0.0;
            if (CHANNELS == 1) {
                double gValue = 0.0, dgValue = 0.0;
                for (int l = 0; l < numTerms; l++) {
                    const double value = terms[l].weight*exponentials[l*BLOCK + b];
                    gValue += value;
                    dgValue -= value*terms[l].inverseWidth2;
                }
                const double qi = charges[i], qj = charges[j];
                energy += qi*qj*gValue;
                dEdr2 = qi*qj*dgValue;
                if (chargeDerivatives != nullptr) {
                    potentialOfCurrent[0] += qj*gValue;
                    (*chargeDerivatives)[j] += qi*gValue;
                }
            }
            else {
                kernel.evaluate(&exponentials[b], BLOCK, g.data(), dgdr2.data());
                for (int c = 0; c < p; c++) {
                    const double qi = charges[i*p+c], qj = charges[j*p+c];
                    energy += qi*qj*g[c];
                    dEdr2 += qi*qj*dgdr2[c];
                    if (chargeDerivatives != nullptr) {
                        potentialOfCurrent[c] += qj*g[c];
                        (*chargeDerivatives)[j*p+c] += qi*g[c];
                    }
                }
            }
            if (forces != nullptr && i != j) {
                // d = r_j - r_i + S h: F_i = -dE/dr_i = 2 dE/d(r^2) d, F_j = -F_i (an atom's own
                // image: its separation does not depend on it)
                const double* separation = &pairs.separations[3*k];
                const Vec3 f = Vec3(separation[0], separation[1], separation[2])*(2.0*dEdr2);
                forceOnCurrent += f;
                (*forces)[j] -= f;
            }
        }
    }
    flush();
    return energy;
}

double SOGRealSpaceSum::calculate(const SOGPairSeparations& pairs, const Vec3* boxVectors, const vector<double>& charges,
        vector<Vec3>* forces, vector<double>* chargeDerivatives) const {
    const int p = kernel.getNumChannels();
    const int n = charges.size()/p;
    double energy = (p == 1 ? sumPairs<1>(pairs, kernel, charges, forces, chargeDerivatives) :
            sumPairs<0>(pairs, kernel, charges, forces, chargeDerivatives));
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
