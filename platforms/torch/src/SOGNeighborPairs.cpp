#include "SOGNeighborPairs.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <array>
#include <cmath>
#include <string>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

namespace {

typedef array<double, 3> Vec;

Vec cross(const Vec& a, const Vec& b) {
    return {a[1]*b[2]-a[2]*b[1], a[2]*b[0]-a[0]*b[2], a[0]*b[1]-a[1]*b[0]};
}

double dot(const Vec& a, const Vec& b) {
    return a[0]*b[0]+a[1]*b[1]+a[2]*b[2];
}

// floor(a/b) for b > 0, and the remainder in [0, b).
int floorDivide(int a, int b) {
    return (a >= 0 ? a/b : -((-a+b-1)/b));
}

} // namespace

void SOGPlugin::findNeighborPairs(const vector<double>& positions, const double* cell, double cutoff, SOGNeighborPairs& pairs) {
    pairs.first.clear();
    pairs.second.clear();
    pairs.shifts.clear();
    if (!(cutoff > 0.0) || !isfinite(cutoff))
        throw OpenMMException("TorchSOGForce: the model's cutoff must be positive, not " + to_string(cutoff));
    const int n = positions.size()/3;
    for (double x : positions)
        if (!isfinite(x))
            throw OpenMMException("TorchSOGForce: a position is not finite");
    const bool periodic = (cell != nullptr);
    // A free structure gets a box around its bounding box, wide enough that no image is in range.
    array<Vec, 3> h;
    Vec origin = {0.0, 0.0, 0.0};
    if (periodic)
        for (int a = 0; a < 3; a++)
            h[a] = {cell[3*a], cell[3*a+1], cell[3*a+2]};
    else {
        Vec low = {0.0, 0.0, 0.0}, high = {0.0, 0.0, 0.0};
        for (int k = 0; k < n; k++)
            for (int d = 0; d < 3; d++) {
                low[d] = (k == 0 ? positions[3*k+d] : min(low[d], positions[3*k+d]));
                high[d] = (k == 0 ? positions[3*k+d] : max(high[d], positions[3*k+d]));
            }
        origin = low;
        for (int a = 0; a < 3; a++) {
            h[a] = {0.0, 0.0, 0.0};
            h[a][a] = (high[a]-low[a])*(1.0+1e-12)+cutoff;
        }
    }
    // Rows of the inverse: fractional coordinate a of r is dot(r, reciprocal[a]).
    const double volume = dot(h[0], cross(h[1], h[2]));
    if (!(fabs(volume) > 0.0) || !isfinite(volume))
        throw OpenMMException("TorchSOGForce: the periodic box is singular (volume " + to_string(volume) + ")");
    array<Vec, 3> reciprocal;
    for (int a = 0; a < 3; a++) {
        Vec c = cross(h[(a+1)%3], h[(a+2)%3]);
        for (int d = 0; d < 3; d++)
            reciprocal[a][d] = c[d]/volume;
    }
    // Bins at least the cutoff wide (their count bounded by the atoms'): 27 bins around an atom,
    // whose z runs are contiguous in the sorted order, rather than 125 narrower ones, whose
    // bookkeeping cost more than the distances (24k atoms: 60 -> 30 ms). A pair within the
    // cutoff is at most reach[a] bins apart along axis a (|delta f_a| <= cutoff/width_a).
    array<int, 3> bins, reach;
    const int maxBinsPerAxis = max(1, (int) ceil(2.0*cbrt((double) n)));
    for (int a = 0; a < 3; a++) {
        double width = 1.0/sqrt(dot(reciprocal[a], reciprocal[a]));
        bins[a] = max(1, min(maxBinsPerAxis, (int) floor(width/cutoff)));
        reach[a] = (int) floor(cutoff*bins[a]/width)+1;
    }
    // Wrapped coordinates u_k = r_k - w_k h and the bin of each atom.
    vector<Vec> wrapped(n);
    vector<array<int, 3> > wraps(n);
    vector<int> binOf(n);
    for (int k = 0; k < n; k++) {
        Vec r = {positions[3*k]-origin[0], positions[3*k+1]-origin[1], positions[3*k+2]-origin[2]};
        array<int, 3> index;
        for (int a = 0; a < 3; a++) {
            double f = dot(r, reciprocal[a]);
            double w = (periodic ? floor(f) : 0.0);
            f -= w;
            index[a] = min(bins[a]-1, max(0, (int) floor(f*bins[a])));
            wraps[k][a] = (int) w;
        }
        for (int d = 0; d < 3; d++)
            wrapped[k][d] = r[d]-wraps[k][0]*h[0][d]-wraps[k][1]*h[1][d]-wraps[k][2]*h[2][d];
        binOf[k] = (index[0]*bins[1]+index[1])*bins[2]+index[2];
    }
    // Atoms sorted by bin (counting sort).
    const int numBins = bins[0]*bins[1]*bins[2];
    vector<int> start(numBins+1, 0), order(n);
    for (int k = 0; k < n; k++)
        start[binOf[k]+1]++;
    for (int b = 0; b < numBins; b++)
        start[b+1] += start[b];
    vector<int> fill(start.begin(), start.end()-1);
    for (int k = 0; k < n; k++)
        order[fill[binOf[k]]++] = k;
    // The wrapped coordinates in bin order: a run of atoms is a run of memory.
    vector<double> sorted(3*n);
    for (int s = 0; s < n; s++)
        for (int d = 0; d < 3; d++)
            sorted[3*s+d] = wrapped[order[s]][d];
    const double cutoff2 = cutoff*cutoff;
    for (int i = 0; i < n; i++) {
        int bi[3] = {binOf[i]/(bins[1]*bins[2]), (binOf[i]/bins[2])%bins[1], binOf[i]%bins[2]};
        // Each unwrapped bin bi + offset is one (bin, image) pair, so no pair is found twice.
        for (int o0 = -reach[0]; o0 <= reach[0]; o0++) {
            int u0 = bi[0]+o0, n0 = floorDivide(u0, bins[0]);
            if (!periodic && n0 != 0)
                continue;
            for (int o1 = -reach[1]; o1 <= reach[1]; o1++) {
                int u1 = bi[1]+o1, n1 = floorDivide(u1, bins[1]);
                if (!periodic && n1 != 0)
                    continue;
                const int row = ((u0-n0*bins[0])*bins[1]+(u1-n1*bins[1]))*bins[2];
                // The z offsets in runs of one image n2 each: a run of bins is a run of atoms.
                for (int o2 = -reach[2]; o2 <= reach[2];) {
                    int u2 = bi[2]+o2, n2 = floorDivide(u2, bins[2]);
                    const int firstBin = u2-n2*bins[2];
                    const int runLength = min(reach[2]-o2+1, bins[2]-firstBin);
                    o2 += runLength;
                    if (!periodic && n2 != 0)
                        continue;
                    Vec image;
                    for (int d = 0; d < 3; d++)
                        image[d] = n0*h[0][d]+n1*h[1][d]+n2*h[2][d]-wrapped[i][d];
                    const bool centre = (n0 == 0 && n1 == 0 && n2 == 0);
                    const int shift[3] = {n0+wraps[i][0], n1+wraps[i][1], n2+wraps[i][2]};
                    for (int s = start[row+firstBin]; s < start[row+firstBin+runLength]; s++) {
                        const double separation[3] = {sorted[3*s]+image[0], sorted[3*s+1]+image[1],
                                sorted[3*s+2]+image[2]};
                        if (separation[0]*separation[0]+separation[1]*separation[1]+separation[2]*separation[2] >= cutoff2)
                            continue;
                        const int j = order[s];
                        if (centre && j == i)
                            continue;
                        pairs.first.push_back(i);
                        pairs.second.push_back(j);
                        for (int d = 0; d < 3; d++)
                            pairs.shifts.push_back(shift[d]-wraps[j][d]);
                    }
                }
            }
        }
    }
}
