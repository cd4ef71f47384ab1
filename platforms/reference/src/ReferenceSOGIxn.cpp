#include "ReferenceSOGIxn.h"
#include "SOGParallelFor.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ThreadPool.h"
#include <algorithm>
#include <cmath>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

ReferenceSOGIxn::ReferenceSOGIxn(const SOGGridRequest& request, const Vec3* boxVectors) :
        request(request), numChannels(request.numChannels),
        grid(SOGForceImpl::calcGridParameters(boxVectors, request, 0.0)),
        fft(grid.gridSize[0], grid.gridSize[1], grid.gridSize[2]),
        spreadingKernel(grid.spreadWidth, grid.beta), channelWeights(numChannels), channelWidths(numChannels),
        selfKernel(numChannels, 0.0), grids(numChannels), spectra(numChannels), modeFactors(numChannels) {
}

void ReferenceSOGIxn::fitGrid(const Vec3* boxVectors) {
    if (SOGForceImpl::gridHoldsModes(boxVectors, grid.kCutoff, grid.gridSize))
        return;
    // Refused (with the reason) before anything is allocated if the grid cannot fit.
    SOGGridParameters larger = SOGForceImpl::calcGridParameters(boxVectors, request, 0.0);
    for (auto& values : grids)
        vector<double>().swap(values); // free the old grids before the new ones are allocated
    for (auto& values : spectra)
        vector<complex<double> >().swap(values);
    grid = larger;
    fft = SOGFFT3D(grid.gridSize[0], grid.gridSize[1], grid.gridSize[2]);
    modeFactorsValid = false;
}

void ReferenceSOGIxn::setGaussians(const vector<double>& weights, const vector<double>& widths, const vector<int>& channels) {
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

double ReferenceSOGIxn::calcKernelTransform(int channel, double k2) const {
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

void ReferenceSOGIxn::updateModeFactors(const Vec3* boxVectors, const Vec3* recip, double volume, const int* maxMode) {
    bool sameBox = modeFactorsValid;
    for (int d = 0; d < 3; d++)
        sameBox = sameBox && boxVectors[d] == factorBox[d];
    if (sameBox)
        return;
    const int* n = grid.gridSize;
    const double alpha = 0.5*grid.spreadWidth;
    // Deconvolution factors D_d(m) = alpha psihat(2 pi m alpha / n_d) for |m| <= K_d.
    vector<double> deconvolution[3];
    for (int d = 0; d < 3; d++) {
        deconvolution[d].resize(2*maxMode[d] + 1);
        for (int m = -maxMode[d]; m <= maxMode[d]; m++)
            deconvolution[d][m + maxMode[d]] = alpha*SOGForceImpl::calcKernelTransform(2*M_PI*m*alpha/n[d], grid.beta);
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
                        modeFactors[ch][index] = (zeroMode ? 0.0 : calcKernelTransform(ch, k.dot(k))/(volume*D*D));
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
 * result[d][t] = sum_k coefficients[k*w + t] v[d]^k for the three axes d and t < w, by Horner's
 * rule (the polynomials of SOGSpreadingKernel::evaluate, with the width fixed at compile time).
 * The three axes advance together: 3w independent chains instead of w keep the multipliers busy
 * (one axis at a time, the ~20 dependent steps of each chain set the pace).
 */
template <int W>
static void evaluateWeights(const double* coefficients, int degree, int w, const double v[3], double* const result[3]) {
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
            result[d][t] = sum[d][t];
}

double ReferenceSOGIxn::calculate(const vector<Vec3>& positions, const Vec3* boxVectors, const vector<double>& charges,
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

    // Spreading weights, shared by every channel and by both transforms.
    firstIndex.resize(3*numParticles);
    weights.resize(3*numParticles*w);
    derivWeights.resize(needPotential ? 3*numParticles*w : 0);
    const double* valueCoefficients = spreadingKernel.getCoefficients(false).data();
    const double* derivativeCoefficients = spreadingKernel.getCoefficients(true).data();
    const int valueDegree = spreadingKernel.getDegree(false);
    const int derivativeDegree = spreadingKernel.getDegree(true);
    withWidth(w, [&](auto width) {
        constexpr int W = decltype(width)::value;
        parallelFor(threads, numParticles, [&](int begin, int end, int thread) {
            for (int i = begin; i < end; i++) {
                double v[3]; // the polynomials' variable 2u - 1 per axis, u = j0 - (x - alpha)
                for (int d = 0; d < 3; d++) {
                    double s = positions[i].dot(recip[d]);
                    s -= floor(s);
                    const double start = s*n[d] - alpha; // the support begins at x - alpha
                    const int j0 = (int) ceil(start);
                    firstIndex[3*i + d] = j0;
                    v[d] = 2.0*(j0 - start) - 1.0;
                }
                double* const values[3] = {&weights[3*i*w], &weights[(3*i + 1)*w], &weights[(3*i + 2)*w]};
                evaluateWeights<W>(valueCoefficients, valueDegree, w, v, values);
                if (needPotential) {
                    double* const derivatives[3] = {&derivWeights[3*i*w], &derivWeights[(3*i + 1)*w], &derivWeights[(3*i + 2)*w]};
                    evaluateWeights<W>(derivativeCoefficients, derivativeDegree, w, v, derivatives);
                    for (int d = 0; d < 3; d++)
                        for (int t = 0; t < (W > 0 ? W : w); t++)
                            derivatives[d][t] *= n[d]/alpha; // d/dz to d/ds
                }
            }
        });
    });
    // Visit particles in grid order so that neighbouring particles touch the same cache lines.
    // A stable counting sort by (x plane, y row) of the first support point: linear in N, and
    // the order depends only on the positions, so results are reproducible.
    const int numRows = n[0]*n[1];
    vector<int> order(numParticles);
    vector<int> rowOf(numParticles), rowStart(numRows + 1, 0);
    for (int i = 0; i < numParticles; i++) {
        rowOf[i] = wrapIndex(firstIndex[3*i], n[0])*n[1] + wrapIndex(firstIndex[3*i + 1], n[1]);
        rowStart[rowOf[i] + 1]++;
    }
    for (int r = 0; r < numRows; r++)
        rowStart[r + 1] += rowStart[r];
    for (int i = 0; i < numParticles; i++)
        order[rowStart[rowOf[i]]++] = i;
    // Wrapped grid indices of particle i along axis d: indices[d][t], t < w.
    auto wrappedIndices = [&](int i, int indices[3][16]) {
        for (int d = 0; d < 3; d++)
            for (int t = 0; t < w; t++)
                indices[d][t] = wrapIndex(firstIndex[3*i + d] + t, n[d]);
    };

    // Type 1: spread all channels in one pass, then FFT. Each thread owns a slab of x planes and
    // adds only the contributions that fall in it, so no two threads write the same point.
    for (int ch = 0; ch < P; ch++)
        grids[ch].assign(gridPoints, 0.0);
    // The particles are sorted by their first x plane: those reaching a thread's slab lie in one
    // or (across the periodic boundary) two ranges of the order, visited in the same order as by
    // a single thread so that every grid point sums its terms in the same order.
    vector<int> sortedPlane(numParticles);
    for (int k = 0; k < numParticles; k++)
        sortedPlane[k] = wrapIndex(firstIndex[3*order[k]], n[0]);
    withWidth(w, [&](auto width) {
        constexpr int W = decltype(width)::value;
        const int ww = (W > 0 ? W : w);
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
            auto spreadParticle = [&](int i) {
                const double* wx = &weights[(3*i)*ww];
                const double* wy = &weights[(3*i + 1)*ww];
                const double* wz = &weights[(3*i + 2)*ww];
                wrappedIndices(i, indices);
                const bool contiguous = (indices[2][0] + ww <= n[2]); // the z support does not wrap
                for (int ch = 0; ch < P; ch++) {
                    const double q = charges[i*P + ch];
                    if (q == 0.0)
                        continue;
                    double* grid = grids[ch].data();
                    for (int tx = 0; tx < ww; tx++) {
                        const int gx = indices[0][tx];
                        if (gx < firstPlane || gx >= endPlane)
                            continue;
                        const double qx = q*wx[tx];
                        for (int ty = 0; ty < ww; ty++) {
                            const double a = qx*wy[ty];
                            double* row = grid + ((long long) gx*n[1] + indices[1][ty])*n[2];
                            if (contiguous) {
                                double* points = row + indices[2][0];
                                for (int tz = 0; tz < ww; tz++)
                                    points[tz] += a*wz[tz];
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
                    spreadParticle(order[k]);
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
                    const double* factor = &modeFactors[ch][factorIndex];
                    complex<double>* S = &spectra[ch][first];
                    for (int mz = 0; mz < kz; mz++) {
                        sum += (mz == 0 ? 0.5 : 1.0)*factor[mz]*norm(S[mz]);
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
        parallelFor(threads, numParticles, [&](int begin, int end, int thread) {
            int indices[3][16];
            for (int sorted = begin; sorted < end; sorted++) {
                const int i = order[sorted];
                wrappedIndices(i, indices);
                const bool contiguous = (indices[2][0] + ww <= n[2]);
                const double* wx = &weights[(3*i)*ww];
                const double* wy = &weights[(3*i + 1)*ww];
                const double* wz = &weights[(3*i + 2)*ww];
                const double* dx = &derivWeights[(3*i)*ww];
                const double* dy = &derivWeights[(3*i + 1)*ww];
                const double* dz = &derivWeights[(3*i + 2)*ww];
                for (int ch = 0; ch < P; ch++) {
                    // phi = sum wx wy wz u and its fractional gradient, summed over z first.
                    const double* grid = grids[ch].data();
                    double phi = 0.0, g0 = 0.0, g1 = 0.0, g2 = 0.0;
                    for (int tx = 0; tx < ww; tx++) {
                        const double* plane = grid + (long long) indices[0][tx]*n[1]*(long long) n[2];
                        double planeValue = 0.0, planeDy = 0.0, planeDz = 0.0; // sums over y and z
                        for (int ty = 0; ty < ww; ty++) {
                            const double* row = plane + (long long) indices[1][ty]*n[2];
                            double rowValue = 0.0, rowDz = 0.0;
                            if (contiguous) {
                                const double* points = row + indices[2][0];
                                for (int tz = 0; tz < ww; tz++) {
                                    rowValue += wz[tz]*points[tz];
                                    rowDz += dz[tz]*points[tz];
                                }
                            }
                            else
                                for (int tz = 0; tz < ww; tz++) {
                                    const double u = row[indices[2][tz]];
                                    rowValue += wz[tz]*u;
                                    rowDz += dz[tz]*u;
                                }
                            planeValue += wy[ty]*rowValue;
                            planeDy += dy[ty]*rowValue;
                            planeDz += wy[ty]*rowDz;
                        }
                        phi += wx[tx]*planeValue;
                        g0 += dx[tx]*planeValue;
                        g1 += wx[tx]*planeDy;
                        g2 += wx[tx]*planeDz;
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
