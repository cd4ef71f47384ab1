#include "ReferenceSOGIxn.h"
#include "SOGParallelFor.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ThreadPool.h"
#include <algorithm>
#include <cmath>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

template <class Real>
ReferenceSOGIxn<Real>::ReferenceSOGIxn(const SOGGridRequest& request, const Vec3* boxVectors) :
        request(request), numChannels(request.numChannels),
        grid(SOGForceImpl::calcGridParameters(boxVectors, request, 0.0)),
        fft(grid.gridSize[0], grid.gridSize[1], grid.gridSize[2]),
        spreadingKernel(grid.spreadWidth, grid.beta), weightScale(1.0/SOGForceImpl::calcKernelValue(0.0, grid.beta)),
        channelWeights(numChannels), channelWidths(numChannels),
        selfKernel(numChannels, 0.0), grids(numChannels), spectra(numChannels), modeFactors(numChannels) {
}

template <class Real>
void ReferenceSOGIxn<Real>::fitGrid(const Vec3* boxVectors) {
    if (SOGForceImpl::gridHoldsModes(boxVectors, grid.kCutoff, grid.gridSize))
        return;
    // Refused (with the reason) before anything is allocated if the grid cannot fit.
    SOGGridParameters larger = SOGForceImpl::calcGridParameters(boxVectors, request, 0.0);
    for (auto& values : grids)
        vector<Real>().swap(values); // free the old grids before the new ones are allocated
    for (auto& values : spectra)
        vector<complex<Real> >().swap(values);
    grid = larger;
    fft = SOGFFT3D<Real>(grid.gridSize[0], grid.gridSize[1], grid.gridSize[2]);
    modeFactorsValid = false;
}

template <class Real>
void ReferenceSOGIxn<Real>::setGaussians(const vector<double>& weights, const vector<double>& widths, const vector<int>& channels) {
    for (int c = 0; c < numChannels; c++) {
        channelWeights[c].clear();
        channelWidths[c].clear();
        selfKernel[c] = 0.0;
    }
    modeFactorsValid = false;
    // By increasing width, so that calcKernelTransform can stop at the first negligible term.
    vector<int> order(weights.size());
    for (int l = 0; l < (int) order.size(); l++)
        order[l] = l;
    sort(order.begin(), order.end(), [&](int a, int b) { return widths[a] < widths[b]; });
    for (int l : order) {
        channelWeights[channels[l]].push_back(weights[l]);
        channelWidths[channels[l]].push_back(widths[l]);
        selfKernel[channels[l]] += weights[l];
    }
}

template <class Real>
double ReferenceSOGIxn<Real>::calcKernelTransform(int channel, double k2) const {
    const double piFactor = pow(M_PI, 1.5);
    double sum = 0.0;
    for (int l = 0; l < (int) channelWeights[channel].size(); l++) {
        double sigma = channelWidths[channel][l];
        double x = 0.25*sigma*sigma*k2;
        if (x > 50)
            break; // this term is below exp(-50) of its weight, and so is every wider one
        sum += channelWeights[channel][l]*piFactor*sigma*sigma*sigma*exp(-x);
    }
    return sum;
}

template <class Real>
void ReferenceSOGIxn<Real>::updateModeFactors(const Vec3* boxVectors, const Vec3* recip, double volume, const int* maxMode) {
    bool sameBox = modeFactorsValid;
    for (int d = 0; d < 3; d++)
        sameBox = sameBox && boxVectors[d] == factorBox[d];
    if (sameBox)
        return;
    const int* n = grid.gridSize;
    const double alpha = 0.5*grid.spreadWidth;
    // Deconvolution factors D_d(m) = alpha psihat(2 pi m alpha / n_d) for |m| <= K_d, divided by
    // phi(0) like the weights (see calculate()), so that ghat/(V D^2) keeps its true scale.
    vector<double> deconvolution[3];
    for (int d = 0; d < 3; d++) {
        deconvolution[d].resize(2*maxMode[d] + 1);
        for (int m = -maxMode[d]; m <= maxMode[d]; m++)
            deconvolution[d][m + maxMode[d]] = alpha*SOGForceImpl::calcKernelTransform(2*M_PI*m*alpha/n[d], grid.beta)*weightScale;
    }
    const int kz = maxMode[2] + 1;
    const size_t numModes = (size_t) (2*maxMode[0] + 1)*(2*maxMode[1] + 1)*kz;
    for (int ch = 0; ch < numChannels; ch++)
        modeFactors[ch].resize(numModes);
    parallelFor(threads, 2*maxMode[0] + 1, [&](int begin, int end, int thread) {
        for (int row = begin; row < end; row++)
            for (int my = -maxMode[1]; my <= maxMode[1]; my++)
                for (int mz = 0; mz < kz; mz++) {
                    const int mx = row - maxMode[0];
                    const size_t index = ((size_t) row*(2*maxMode[1] + 1) + my + maxMode[1])*kz + mz;
                    Vec3 k = (recip[0]*mx + recip[1]*my + recip[2]*mz)*(2*M_PI);
                    double D = deconvolution[0][row]*deconvolution[1][my + maxMode[1]]*deconvolution[2][mz + maxMode[2]];
                    bool zeroMode = (mx == 0 && my == 0 && mz == 0);
                    for (int ch = 0; ch < numChannels; ch++)
                        modeFactors[ch][index] = (Real) (zeroMode ? 0.0 : calcKernelTransform(ch, k.dot(k))/(volume*D*D));
                }
    });
    for (int d = 0; d < 3; d++)
        factorBox[d] = boxVectors[d];
    modeFactorsValid = true;
}

static int wrapIndex(int j, int size) {
    j %= size;
    return (j < 0 ? j + size : j);
}

/*
 * The hot loops (weights, spreading, interpolation) run over w = 4..16 points per axis. Calling
 * body(std::integral_constant<int, W>) with W = w makes every loop bound a compile-time constant,
 * which the compiler unrolls and vectorises (about 2x faster than the same loops with a run-time
 * bound); W = 0 is the run-time fallback.
 */
template <class Body>
static void withWidth(int w, Body&& body) {
    switch (w) {
        case 4: body(integral_constant<int, 4>()); break;
        case 5: body(integral_constant<int, 5>()); break;
        case 6: body(integral_constant<int, 6>()); break;
        case 7: body(integral_constant<int, 7>()); break;
        case 8: body(integral_constant<int, 8>()); break;
        case 9: body(integral_constant<int, 9>()); break;
        case 10: body(integral_constant<int, 10>()); break;
        case 11: body(integral_constant<int, 11>()); break;
        case 12: body(integral_constant<int, 12>()); break;
        default: body(integral_constant<int, 0>());
    }
}

/*
 * The z loops of spreading and gathering run over the support padded with zero weights to a
 * whole number of 16-byte SIMD vectors (6 -> 8 floats), which the compiler vectorises without a
 * scalar remainder. The run-time-width fallback (W = 0) does not pad and sizes the local
 * arrays for the widest kernel, 16.
 */
template <class Real, int W>
static constexpr int paddedWidth() {
    constexpr int lanes = 16/sizeof(Real);
    return (W > 0 ? min(16, (W + lanes - 1)/lanes*lanes) : 16);
}

/*
 * result[d][t] = sum_k coefficients[k*w + t] v[d]^k for the three axes d and t < w, by Horner's
 * rule (the polynomials of SOGSpreadingKernel::evaluate, with the width fixed at compile time),
 * times scale[d], rounded to Real at the end (single precision keeps its 7 digits: the polynomial
 * itself is summed in double).
 * The three axes advance together: 3w independent chains instead of w keep the multipliers busy
 * (one axis at a time, the ~20 dependent steps of each chain set the pace).
 */
template <int W, class Real>
static void evaluateWeights(const double* coefficients, int degree, int w, const double v[3], double scale[3], Real* const result[3]) {
    const int width = (W > 0 ? W : w);
    double sum[3][16];
    for (int d = 0; d < 3; d++)
        for (int t = 0; t < width; t++)
            sum[d][t] = coefficients[degree*width + t];
    for (int k = degree - 1; k >= 0; k--) {
        const double* c = coefficients + k*width;
        for (int d = 0; d < 3; d++)
            for (int t = 0; t < width; t++)
                sum[d][t] = sum[d][t]*v[d] + c[t];
    }
    for (int d = 0; d < 3; d++)
        for (int t = 0; t < width; t++)
            result[d][t] = (Real) (scale[d]*sum[d][t]);
}

template <class Real>
double ReferenceSOGIxn<Real>::calculate(const vector<Vec3>& positions, const Vec3* boxVectors, const vector<double>& charges,
        vector<Vec3>* forces, vector<double>* chargeDerivatives) {
    fitGrid(boxVectors);
    const int numParticles = positions.size();
    const int P = numChannels;
    const int w = grid.spreadWidth;
    const double alpha = 0.5*w;
    const int* n = grid.gridSize;
    const size_t gridPoints = (size_t) n[0]*n[1]*n[2];
    const bool needPotential = (forces != nullptr || chargeDerivatives != nullptr);
    const int numThreads = (threads == nullptr ? 1 : max(1, threads->getNumThreads()));

    // Box inverse: s = r h^{-1}, with the box vectors as the rows of h; recip[d] = column d of h^{-1}.
    Vec3 recip[3];
    double volume;
    int maxMode[3];
    SOGForceImpl::calcReciprocalBox(request.forceName, boxVectors, grid.kCutoff, n, recip, volume, maxMode);
    for (int i = 0; i < numParticles; i++) {
        const Vec3& r = positions[i];
        if (!(isfinite(r[0]) && isfinite(r[1]) && isfinite(r[2])))
            throw OpenMMException(request.forceName + ": particle " + to_string(i) + " has a non-finite position");
    }

    // The first support point of each particle along each axis, and the weight polynomials'
    // variable 2u - 1, u = j0 - (x - alpha); in the particles' order.
    vector<int> supportStart(3*numParticles);
    vector<double> kernelVariable(3*numParticles);
    parallelFor(threads, numParticles, [&](int begin, int end, int thread) {
        for (int i = begin; i < end; i++)
            for (int d = 0; d < 3; d++) {
                double s = positions[i].dot(recip[d]);
                s -= floor(s);
                const double start = s*n[d] - alpha; // the support begins at x - alpha
                const int j0 = (int) ceil(start);
                supportStart[3*i + d] = j0;
                kernelVariable[3*i + d] = 2.0*(j0 - start) - 1.0;
            }
    });
    // Wrapped grid index of every index a support can reach, j in [-w, n_d + w): a table lookup
    // instead of an integer division per support point.
    vector<int> wrapTables[3];
    for (int d = 0; d < 3; d++) {
        wrapTables[d].resize(n[d] + 2*w);
        for (int j = -w; j < n[d] + w; j++)
            wrapTables[d][j + w] = wrapIndex(j, n[d]);
    }
    auto wrapped = [&](int d, int j) {
        return wrapTables[d][j + w];
    };
    // Visit particles in grid order so that neighbouring particles touch the same cache lines.
    // A stable counting sort by (x plane, y row) of the first support point: linear in N, and
    // the order depends only on the positions, so results are reproducible. Everything the
    // spreading and gathering loops read per particle (support, weights, charges) is then stored
    // in this order, so that those loops read memory in sequence; entry k is particle order[k].
    const int numRows = n[0]*n[1];
    vector<int> order(numParticles);
    vector<int> rowOf(numParticles), rowStart(numRows + 1, 0);
    for (int i = 0; i < numParticles; i++) {
        rowOf[i] = wrapped(0, supportStart[3*i])*n[1] + wrapped(1, supportStart[3*i + 1]);
        rowStart[rowOf[i] + 1]++;
    }
    for (int r = 0; r < numRows; r++)
        rowStart[r + 1] += rowStart[r];
    for (int i = 0; i < numParticles; i++)
        order[rowStart[rowOf[i]]++] = i;

    // Spreading weights, shared by every channel and by both transforms. They are divided by
    // phi(0) (weightScale), so that they are at most 1: unscaled, phi(0) = I0(beta) - 1 reaches
    // 1e9 and the grid values its cube, beyond single precision's range once squared. The
    // deconvolution factors carry the same scale (updateModeFactors), so the results do not change.
    firstIndex.resize(3*numParticles);
    sortedCharges.resize(numParticles*P);
    weights.resize(3*numParticles*w);
    derivWeights.resize(needPotential ? 3*numParticles*w : 0);
    const double* valueCoefficients = spreadingKernel.getCoefficients(false).data();
    const double* derivativeCoefficients = spreadingKernel.getCoefficients(true).data();
    const int valueDegree = spreadingKernel.getDegree(false);
    const int derivativeDegree = spreadingKernel.getDegree(true);
    withWidth(w, [&](auto width) {
        constexpr int W = decltype(width)::value;
        parallelFor(threads, numParticles, [&](int begin, int end, int thread) {
            for (int k = begin; k < end; k++) {
                const int i = order[k];
                for (int d = 0; d < 3; d++)
                    firstIndex[3*k + d] = supportStart[3*i + d];
                for (int ch = 0; ch < P; ch++)
                    sortedCharges[k*P + ch] = (Real) charges[i*P + ch];
                const double* v = &kernelVariable[3*i];
                Real* const values[3] = {&weights[3*k*w], &weights[(3*k + 1)*w], &weights[(3*k + 2)*w]};
                double valueScale[3] = {weightScale, weightScale, weightScale};
                evaluateWeights<W>(valueCoefficients, valueDegree, w, v, valueScale, values);
                if (needPotential) {
                    Real* const derivatives[3] = {&derivWeights[3*k*w], &derivWeights[(3*k + 1)*w], &derivWeights[(3*k + 2)*w]};
                    // d/dz to d/ds, and the same scale as the values
                    double toFractional[3] = {weightScale*n[0]/alpha, weightScale*n[1]/alpha, weightScale*n[2]/alpha};
                    evaluateWeights<W>(derivativeCoefficients, derivativeDegree, w, v, toFractional, derivatives);
                }
            }
        });
    });
    // Wrapped grid indices of sorted particle k along axis d: indices[d][t], t < w.
    auto wrappedIndices = [&](int k, int indices[3][16]) {
        for (int d = 0; d < 3; d++) {
            const int* table = &wrapTables[d][firstIndex[3*k + d] + w];
            for (int t = 0; t < w; t++)
                indices[d][t] = table[t];
        }
    };

    // Type 1: spread all channels in one pass, then FFT. Each thread owns a slab of x planes and
    // adds only the contributions that fall in it, so no two threads write the same point.
    for (int ch = 0; ch < P; ch++)
        grids[ch].assign(gridPoints, Real(0));
    // The particles are sorted by their first x plane: those reaching a thread's slab lie in one
    // or (across the periodic boundary) two ranges of the order, visited in the same order as by
    // a single thread so that every grid point sums its terms in the same order.
    vector<int> sortedPlane(numParticles);
    for (int k = 0; k < numParticles; k++)
        sortedPlane[k] = wrapped(0, firstIndex[3*k]);
    withWidth(w, [&](auto width) {
        constexpr int W = decltype(width)::value;
        const int ww = (W > 0 ? W : w);
        constexpr int WP = paddedWidth<Real, W>(); // the local arrays' size
        const int wp = (W > 0 ? WP : w);
        parallelFor(threads, n[0], [&](int firstPlane, int endPlane, int thread) {
            auto firstAtOrAbove = [&](int plane) {
                return (int) (lower_bound(sortedPlane.begin(), sortedPlane.end(), plane) - sortedPlane.begin());
            };
            vector<pair<int, int> > ranges; // [begin, end) in the order
            const int lowest = firstPlane - (ww - 1); // first planes whose support reaches the slab
            if (endPlane - lowest >= n[0])
                ranges.push_back({0, numParticles});
            else if (lowest >= 0)
                ranges.push_back({firstAtOrAbove(lowest), firstAtOrAbove(endPlane)});
            else {
                ranges.push_back({0, firstAtOrAbove(endPlane)});
                ranges.push_back({firstAtOrAbove(lowest + n[0]), numParticles});
            }
            int indices[3][16];
            auto spreadParticle = [&](int k) {
                const Real* wx = &weights[(3*k)*ww];
                const Real* wy = &weights[(3*k + 1)*ww];
                // A local copy, padded with zeros to wp: the compiler then knows no grid store
                // changes it, and vectorises the z loop in whole SIMD vectors.
                Real wz[WP] = {};
                for (int tz = 0; tz < ww; tz++)
                    wz[tz] = weights[(3*k + 2)*ww + tz];
                wrappedIndices(k, indices);
                const bool contiguous = (indices[2][0] + wp <= n[2]); // the padded z run does not wrap
                for (int ch = 0; ch < P; ch++) {
                    const Real q = sortedCharges[k*P + ch];
                    if (q == 0)
                        continue;
                    Real* grid = grids[ch].data();
                    for (int tx = 0; tx < ww; tx++) {
                        const int gx = indices[0][tx];
                        if (gx < firstPlane || gx >= endPlane)
                            continue;
                        const Real qx = q*wx[tx];
                        for (int ty = 0; ty < ww; ty++) {
                            const Real a = qx*wy[ty];
                            Real* row = grid + ((long long) gx*n[1] + indices[1][ty])*n[2];
                            if (contiguous) {
                                Real* __restrict points = row + indices[2][0];
                                for (int tz = 0; tz < wp; tz++)
                                    points[tz] += a*wz[tz]; // adds zero beyond the support
                            }
                            else
                                for (int tz = 0; tz < ww; tz++)
                                    row[indices[2][tz]] += a*wz[tz];
                        }
                    }
                }
            };
            for (const auto& range : ranges)
                for (int k = range.first; k < range.second; k++)
                    spreadParticle(k);
        });
    });
    const size_t spectrumSize = fft.getSpectrumSize(maxMode);
    for (int ch = 0; ch < P; ch++) {
        spectra[ch].resize(spectrumSize);
        fft.forward(grids[ch].data(), spectra[ch].data(), maxMode, threads);
    }

    // k-space: energy, and the type-2 input T_c(m) = ghat_c(k) S_c(m) / (V prod D^2) on kept modes
    // with m_z >= 0 (the FFT's half spectrum; the modes with m_z > 0 count twice in the energy).
    // Threads split the mx range; partial energies are summed in thread order (deterministic).
    updateModeFactors(boxVectors, recip, volume, maxMode);
    const int kz = maxMode[2] + 1;
    const int rowLength = (2*maxMode[1] + 1)*kz;
    vector<double> threadEnergy(numThreads, 0.0);
    parallelFor(threads, 2*maxMode[0] + 1, [&](int begin, int end, int thread) {
        double sum = 0.0;
        for (int row = begin; row < end; row++) {
            const int mx = row - maxMode[0];
            for (int my = -maxMode[1]; my <= maxMode[1]; my++) {
                const long long first = ((long long) wrapIndex(mx, n[0])*n[1] + wrapIndex(my, n[1]))*kz;
                const size_t factorIndex = (size_t) row*rowLength + (my + maxMode[1])*kz;
                for (int ch = 0; ch < P; ch++) {
                    const Real* factor = &modeFactors[ch][factorIndex];
                    complex<Real>* S = &spectra[ch][first];
                    for (int mz = 0; mz < kz; mz++) {
                        sum += (mz == 0 ? 0.5 : 1.0)*(double) factor[mz]*(double) norm(S[mz]);
                        if (needPotential)
                            S[mz] *= factor[mz];
                    }
                }
            }
        }
        threadEnergy[thread] = sum;
    });
    double energy = 0.0;
    for (double partial : threadEnergy)
        energy += partial;
    for (int i = 0; i < numParticles; i++)
        for (int ch = 0; ch < P; ch++)
            energy -= 0.5*selfKernel[ch]*charges[i*P + ch]*charges[i*P + ch];
    if (!needPotential)
        return energy;

    // Type 2: inverse FFT (a Hermitian input, so a real potential), then interpolate phi_c and its
    // fractional gradient with the same weights.
    for (int ch = 0; ch < P; ch++)
        fft.backward(spectra[ch].data(), grids[ch].data(), maxMode, threads);
    if (chargeDerivatives != nullptr)
        chargeDerivatives->resize(numParticles*P);
    withWidth(w, [&](auto width) {
        constexpr int W = decltype(width)::value;
        const int ww = (W > 0 ? W : w);
        constexpr int WP = paddedWidth<Real, W>(); // the local arrays' size
        const int wp = (W > 0 ? WP : w);
        parallelFor(threads, numParticles, [&](int begin, int end, int thread) {
            int indices[3][16];
            for (int k = begin; k < end; k++) {
                const int i = order[k];
                wrappedIndices(k, indices);
                const bool contiguous = (indices[2][0] + wp <= n[2]);
                const Real* wx = &weights[(3*k)*ww];
                const Real* wy = &weights[(3*k + 1)*ww];
                const Real* dx = &derivWeights[(3*k)*ww];
                const Real* dy = &derivWeights[(3*k + 1)*ww];
                Real wz[WP] = {}, dz[WP] = {}; // padded with zeros to wp, as for spreading
                for (int tz = 0; tz < ww; tz++) {
                    wz[tz] = weights[(3*k + 2)*ww + tz];
                    dz[tz] = derivWeights[(3*k + 2)*ww + tz];
                }
                for (int ch = 0; ch < P; ch++) {
                    // Per z offset tz, the sums over x and y of wx wy u, dx wy u and wx dy u: each
                    // row adds elementwise (the SIMD loop, no reduction), and the z sums come last:
                    // phi = sum wz V, and the fractional gradient (sum wz X, sum wz Y, sum dz V).
                    const Real* grid = grids[ch].data();
                    Real V[WP] = {}, X[WP] = {}, Y[WP] = {};
                    for (int tx = 0; tx < ww; tx++) {
                        const Real* plane = grid + (long long) indices[0][tx]*n[1]*(long long) n[2];
                        for (int ty = 0; ty < ww; ty++) {
                            const Real a = wx[tx]*wy[ty], b = dx[tx]*wy[ty], c = wx[tx]*dy[ty];
                            const Real* row = plane + (long long) indices[1][ty]*n[2];
                            if (contiguous) {
                                const Real* points = row + indices[2][0];
                                for (int tz = 0; tz < wp; tz++) {
                                    V[tz] += a*points[tz];
                                    X[tz] += b*points[tz];
                                    Y[tz] += c*points[tz];
                                }
                            }
                            else
                                for (int tz = 0; tz < ww; tz++) {
                                    const Real u = row[indices[2][tz]];
                                    V[tz] += a*u;
                                    X[tz] += b*u;
                                    Y[tz] += c*u;
                                }
                        }
                    }
                    double phi = 0.0, g0 = 0.0, g1 = 0.0, g2 = 0.0;
                    for (int tz = 0; tz < ww; tz++) {
                        phi += (double) wz[tz]*V[tz];
                        g0 += (double) wz[tz]*X[tz];
                        g1 += (double) wz[tz]*Y[tz];
                        g2 += (double) dz[tz]*V[tz];
                    }
                    const double q = charges[i*P + ch];
                    if (forces != nullptr)
                        (*forces)[i] -= (recip[0]*g0 + recip[1]*g1 + recip[2]*g2)*q; // d phi/dr = sum_d (d phi/ds_d) recip[d]
                    if (chargeDerivatives != nullptr)
                        (*chargeDerivatives)[i*P + ch] = phi - selfKernel[ch]*q;
                }
            }
        });
    });
    return energy;
}

template class SOGPlugin::ReferenceSOGIxn<float>;
template class SOGPlugin::ReferenceSOGIxn<double>;

unique_ptr<SOGHostEngine> SOGHostEngine::create(const SOGGridRequest& request, const Vec3* boxVectors, bool singlePrecision) {
    if (singlePrecision)
        return unique_ptr<SOGHostEngine>(new ReferenceSOGIxn<float>(request, boxVectors));
    return unique_ptr<SOGHostEngine>(new ReferenceSOGIxn<double>(request, boxVectors));
}
