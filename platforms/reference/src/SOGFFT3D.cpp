#include "SOGFFT3D.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ThreadPool.h"
#include <algorithm>
#include <cmath>

using namespace SOGPlugin;
using namespace std;

typedef complex<double> cd;

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
    while (remainder % 4 == 0) {
        plan.factors.push_back(4);
        remainder /= 4;
    }
    for (int factor = 2; remainder > 1; factor++)
        while (remainder % factor == 0) {
            plan.factors.push_back(factor);
            remainder /= factor;
        }
    int length = n;
    for (int p : plan.factors) {
        int m = length/p;
        vector<cd> twiddle((p-1)*m);
        for (int r = 1; r < p; r++)
            for (int k = 0; k < m; k++)
                twiddle[(r-1)*m + k] = polar(1.0, -2*M_PI*((long long) r*k % length)/length);
        plan.twiddles.push_back(twiddle);
        vector<cd> roots(p);
        for (int j = 0; j < p; j++)
            roots[j] = polar(1.0, -2*M_PI*j/p);
        plan.roots.push_back(roots);
        length = m;
    }
    return plan;
}

static inline cd timesI(cd x, bool forward) {
    // multiply by -i (forward) or +i (backward)
    return forward ? cd(x.imag(), -x.real()) : cd(-x.imag(), x.real());
}

/*
 * Recursive mixed-radix decimation in time: the length-n transform of in[0], in[s], in[2s], ...
 * is built from p transforms of length m = n/p over the sub-sequences starting at r*s, r < p,
 * with stride p*s. Sub-transform r is written to out[r*m .. r*m+m-1]; the butterfly then reads
 * out[r*m + k] for r < p and writes out[q*m + k] for q < p, the same p slots, so it works in place.
 */
void SOGFFT3D::transform1D(const Plan1D& plan, int stage, const cd* in, int inStride, cd* out, int length, bool forward) {
    if (length == 1) {
        out[0] = in[0];
        return;
    }
    const int p = plan.factors[stage];
    const int m = length/p;
    for (int r = 0; r < p; r++)
        transform1D(plan, stage+1, in + r*inStride, inStride*p, out + r*m, m, forward);
    const cd* twiddle = plan.twiddles[stage].data();
    auto tw = [&](int r, int k) {
        cd w = twiddle[(r-1)*m + k];
        return forward ? w : conj(w);
    };
    if (p == 2) {
        for (int k = 0; k < m; k++) {
            cd t0 = out[k], t1 = out[m + k]*tw(1, k);
            out[k] = t0 + t1;
            out[m + k] = t0 - t1;
        }
    }
    else if (p == 3) {
        const double s3 = (forward ? -1 : 1)*sqrt(0.75);
        for (int k = 0; k < m; k++) {
            cd t0 = out[k], t1 = out[m + k]*tw(1, k), t2 = out[2*m + k]*tw(2, k);
            cd a = t1 + t2, b = t1 - t2;
            cd c = t0 - 0.5*a, d = cd(-s3*b.imag(), s3*b.real()); // d = i s3 b
            out[k] = t0 + a;
            out[m + k] = c + d;
            out[2*m + k] = c - d;
        }
    }
    else if (p == 4) {
        for (int k = 0; k < m; k++) {
            cd t0 = out[k], t1 = out[m + k]*tw(1, k), t2 = out[2*m + k]*tw(2, k), t3 = out[3*m + k]*tw(3, k);
            cd a = t0 + t2, b = t0 - t2, c = t1 + t3, d = timesI(t1 - t3, forward);
            out[k] = a + c;
            out[m + k] = b + d;
            out[2*m + k] = a - c;
            out[3*m + k] = b - d;
        }
    }
    else {
        // Any other radix: a direct DFT of size p, with the plan's p-th roots of unity.
        const int maxRadix = 16;
        if (p > maxRadix)
            throw OpenMM::OpenMMException("SOGForce: unsupported FFT radix " + to_string(p));
        cd t[maxRadix], roots[maxRadix];
        for (int j = 0; j < p; j++)
            roots[j] = (forward ? plan.roots[stage][j] : conj(plan.roots[stage][j]));
        for (int k = 0; k < m; k++) {
            t[0] = out[k];
            for (int r = 1; r < p; r++)
                t[r] = out[r*m + k]*tw(r, k);
            for (int q = 0; q < p; q++) {
                cd sum = t[0];
                for (int r = 1; r < p; r++)
                    sum += t[r]*roots[(r*q) % p];
                out[q*m + k] = sum;
            }
        }
    }
}

void SOGFFT3D::transformLines(cd* data, int axis, const vector<int>& lineStarts, int begin, int end, bool forward) const {
    const int n = size[axis];
    const int stride = (axis == 0 ? size[1]*size[2] : axis == 1 ? size[2] : 1);
    vector<cd> line(n), result(n);
    for (int i = begin; i < end; i++) {
        cd* start = data + lineStarts[i];
        for (int j = 0; j < n; j++)
            line[j] = start[j*stride];
        transform1D(plans[axis], 0, line.data(), 1, result.data(), n, forward);
        for (int j = 0; j < n; j++)
            start[j*stride] = result[j];
    }
}

/*
 * z lines 2j and 2j+1 of [begin, end) (in lineStarts order; end - begin may be odd) as one complex
 * line a + i b. Forward, a and b real: FFT(a + i b) = A + i B with A and B Hermitian, so
 * A[k] = (C[k] + conj C[-k])/2 and B[k] = (C[k] - conj C[-k])/(2i). Backward, with real results
 * a = IFFT(A) and b = IFFT(B): IFFT(A + i B) = a + i b.
 */
void SOGFFT3D::transformRealLinePairs(cd* data, const vector<int>& lineStarts, int begin, int end, bool forward) const {
    const int n = size[2];
    vector<cd> line(n), result(n);
    int i = begin;
    for (; i + 1 < end; i += 2) {
        cd* a = data + lineStarts[i];
        cd* b = data + lineStarts[i + 1];
        if (forward)
            for (int j = 0; j < n; j++)
                line[j] = cd(a[j].real(), b[j].real());
        else
            for (int j = 0; j < n; j++)
                line[j] = a[j] + cd(-b[j].imag(), b[j].real());
        transform1D(plans[2], 0, line.data(), 1, result.data(), n, forward);
        if (forward)
            for (int k = 0; k < n; k++) {
                cd c = result[k], mirror = conj(result[(n - k) % n]);
                a[k] = 0.5*(c + mirror);
                b[k] = cd(0.0, -0.5)*(c - mirror);
            }
        else
            for (int j = 0; j < n; j++) {
                a[j] = cd(result[j].real(), 0.0);
                b[j] = cd(result[j].imag(), 0.0);
            }
    }
    if (i < end) {
        transformLines(data, 2, lineStarts, i, end, forward);
        if (!forward) {
            cd* a = data + lineStarts[i];
            for (int j = 0; j < n; j++)
                a[j] = cd(a[j].real(), 0.0);
        }
    }
}

void SOGFFT3D::transform(vector<cd>& data, bool forward, OpenMM::ThreadPool* threads, const int* maxMode, bool real) const {
    // Which indices along each axis carry modes that are used (all of them without pruning).
    vector<char> used[3];
    for (int d = 0; d < 3; d++) {
        used[d].assign(size[d], maxMode == nullptr ? 1 : 0);
        if (maxMode != nullptr)
            for (int m = -maxMode[d]; m <= maxMode[d]; m++)
                used[d][(m % size[d] + size[d]) % size[d]] = 1;
    }
    // Forward: z, y, x; a line along an axis is needed if the axes already transformed are at used
    // modes. Backward: x, y, z; a line is nonzero only if the axes not yet transformed are at used modes.
    const int order[3] = {forward ? 2 : 0, 1, forward ? 0 : 2};
    for (int step = 0; step < 3; step++) {
        const int axis = order[step];
        const int a1 = (axis == 0 ? 1 : 0), a2 = (axis == 2 ? 1 : 2); // the other two axes
        vector<int> lineStarts;
        for (int i1 = 0; i1 < size[a1]; i1++)
            for (int i2 = 0; i2 < size[a2]; i2++) {
                // In both directions the axes after this one in index order hold mode indices.
                if ((a1 > axis && !used[a1][i1]) || (a2 > axis && !used[a2][i2]))
                    continue;
                int g[3];
                g[axis] = 0;
                g[a1] = i1;
                g[a2] = i2;
                lineStarts.push_back((g[0]*size[1] + g[1])*size[2] + g[2]);
            }
        const int numLines = lineStarts.size();
        const int numThreads = (threads == nullptr ? 1 : threads->getNumThreads());
        // The z pass is the first forward and the last backward one: that is where lines are real.
        const bool pairs = (real && axis == 2);
        auto run = [&](int begin, int end) {
            if (pairs)
                transformRealLinePairs(data.data(), lineStarts, begin, end, forward);
            else
                transformLines(data.data(), axis, lineStarts, begin, end, forward);
        };
        if (numThreads < 2)
            run(0, numLines);
        else {
            // Paired lines are split among threads by whole pairs, so that which lines share a
            // transform (and so the round-off) does not depend on the number of threads.
            const int unit = (pairs ? 2 : 1);
            const long long numUnits = (numLines + unit - 1)/unit;
            threads->execute([&](OpenMM::ThreadPool& pool, int thread) {
                int begin = (int) min((long long) numLines, unit*(numUnits*thread/numThreads));
                int end = (int) min((long long) numLines, unit*(numUnits*(thread+1)/numThreads));
                run(begin, end);
            });
            threads->waitForThreads();
        }
    }
}
