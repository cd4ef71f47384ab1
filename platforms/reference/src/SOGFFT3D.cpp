#include "SOGFFT3D.h"
#include "openmm/internal/ThreadPool.h"
#include <cmath>

using namespace SOGPlugin;
using namespace std;

SOGFFT3D::SOGFFT3D(int nx, int ny, int nz) {
    size[0] = nx;
    size[1] = ny;
    size[2] = nz;
    for (int axis = 0; axis < 3; axis++)
        plans[axis] = createPlan(size[axis]);
}

SOGFFT3D::Plan1D SOGFFT3D::createPlan(int n) {
    Plan1D plan;
    plan.size = n;
    int remainder = n;
    for (int factor = 2; remainder > 1; factor++)
        while (remainder % factor == 0) {
            plan.factors.push_back(factor);
            remainder /= factor;
        }
    plan.roots.resize(n);
    for (int t = 0; t < n; t++)
        plan.roots[t] = polar(1.0, -2*M_PI*t/n);
    return plan;
}

/*
 * Recursive mixed-radix decimation in time: the length-n transform of in[0], in[s], in[2s], ...
 * is built from p transforms of length m = n/p over the sub-sequences starting at r*s, r < p,
 * with stride p*s. Sub-transform r is written to out[r*m .. r*m+m-1]; the butterfly then reads
 * out[r*m + k] for r < p and writes out[q*m + k] for q < p, the same p slots, so it works in place.
 */
void SOGFFT3D::transform1D(const Plan1D& plan, int factorIndex, const complex<double>* in, int inStride,
        complex<double>* out, int length, bool forward) {
    if (length == 1) {
        out[0] = in[0];
        return;
    }
    const int p = plan.factors[factorIndex];
    const int m = length/p;
    for (int r = 0; r < p; r++)
        transform1D(plan, factorIndex+1, in + r*inStride, inStride*p, out + r*m, m, forward);
    const int rootStep = plan.size/length;   // roots[j*rootStep] = exp(-2 pi i j/length)
    const int radixStep = plan.size/p;       // roots[j*radixStep] = exp(-2 pi i j/p)
    auto root = [&](int index) {
        complex<double> value = plan.roots[index];
        return forward ? value : conj(value);
    };
    complex<double> twiddled[8];
    vector<complex<double> > largeTwiddled;
    complex<double>* t = twiddled;
    if (p > 8) {
        largeTwiddled.resize(p);
        t = largeTwiddled.data();
    }
    for (int k = 0; k < m; k++) {
        for (int r = 0; r < p; r++)
            t[r] = out[r*m + k]*root(((long long) r*k % length)*rootStep);
        for (int q = 0; q < p; q++) {
            complex<double> sum = t[0];
            for (int r = 1; r < p; r++)
                sum += t[r]*root(((r*q) % p)*radixStep);
            out[q*m + k] = sum;
        }
    }
}

/*
 * Transform lines firstLine <= line < endLine along one axis. Lines are numbered by the indices of
 * the two other axes, outer one first.
 */
void SOGFFT3D::transformLines(complex<double>* data, int axis, int firstLine, int endLine, bool forward) const {
    const int n = size[axis];
    const int stride = (axis == 0 ? size[1]*size[2] : axis == 1 ? size[2] : 1);
    const int innerCount = (axis == 2 ? size[1] : size[2]);
    const int innerStride = (axis == 2 ? size[2] : 1);
    const int outerStride = (axis == 0 ? size[2] : size[1]*size[2]);
    vector<complex<double> > line(n), result(n);
    for (int lineIndex = firstLine; lineIndex < endLine; lineIndex++) {
        complex<double>* start = data + (lineIndex/innerCount)*outerStride + (lineIndex%innerCount)*innerStride;
        for (int j = 0; j < n; j++)
            line[j] = start[j*stride];
        transform1D(plans[axis], 0, line.data(), 1, result.data(), n, forward);
        for (int j = 0; j < n; j++)
            start[j*stride] = result[j];
    }
}

void SOGFFT3D::transform(vector<complex<double> >& data, bool forward, OpenMM::ThreadPool* threads) const {
    for (int axis = 0; axis < 3; axis++) {
        const int numLines = size[0]*size[1]*size[2]/size[axis];
        if (threads == nullptr || threads->getNumThreads() < 2)
            transformLines(data.data(), axis, 0, numLines, forward);
        else {
            const int numThreads = threads->getNumThreads();
            threads->execute([&](OpenMM::ThreadPool& pool, int thread) {
                transformLines(data.data(), axis, (long long) numLines*thread/numThreads,
                        (long long) numLines*(thread+1)/numThreads, forward);
            });
            threads->waitForThreads();
        }
    }
}
