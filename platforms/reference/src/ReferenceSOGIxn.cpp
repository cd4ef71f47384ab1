#include "ReferenceSOGIxn.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ThreadPool.h"
#include <algorithm>
#include <cmath>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

ReferenceSOGIxn::ReferenceSOGIxn(int numChannels, double tolerance, double minWidth, const Vec3* boxVectors) :
        numChannels(numChannels), tolerance(tolerance), minWidth(minWidth),
        grid(SOGForceImpl::calcGridParameters(boxVectors, tolerance, minWidth, 0.0)),
        fft(grid.gridSize[0], grid.gridSize[1], grid.gridSize[2]), channelWeights(numChannels), channelWidths(numChannels),
        selfKernel(numChannels, 0.0), grids(numChannels), potentialGrids(numChannels) {
}

void ReferenceSOGIxn::fitGrid(const Vec3* boxVectors) {
    int maxMode[3];
    SOGForceImpl::calcMaxModes(boxVectors, grid.kCutoff, maxMode);
    for (int d = 0; d < 3; d++)
        if (2*(2*maxMode[d] + 1) > grid.gridSize[d]) {
            grid = SOGForceImpl::calcGridParameters(boxVectors, tolerance, minWidth, 0.0);
            fft = SOGFFT3D(grid.gridSize[0], grid.gridSize[1], grid.gridSize[2]);
            return;
        }
}

void ReferenceSOGIxn::setGaussians(const vector<double>& weights, const vector<double>& widths, const vector<int>& channels) {
    for (int c = 0; c < numChannels; c++) {
        channelWeights[c].clear();
        channelWidths[c].clear();
        selfKernel[c] = 0.0;
    }
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

void ReferenceSOGIxn::parallelFor(int count, const function<void (int, int, int)>& body) const {
    const int numThreads = (threads == nullptr ? 1 : threads->getNumThreads());
    if (numThreads < 2) {
        body(0, count, 0);
        return;
    }
    threads->execute([&](ThreadPool& pool, int thread) {
        body((long long) count*thread/numThreads, (long long) count*(thread+1)/numThreads, thread);
    });
    threads->waitForThreads();
}

static int wrapIndex(int j, int size) {
    j %= size;
    return (j < 0 ? j + size : j);
}

double ReferenceSOGIxn::calculate(const vector<Vec3>& positions, const Vec3* boxVectors, const vector<double>& charges,
        vector<Vec3>* forces, vector<double>* chargeDerivatives) {
    fitGrid(boxVectors);
    const int numParticles = positions.size();
    const int P = numChannels;
    const int w = grid.spreadWidth;
    const double alpha = 0.5*w;
    const int* n = grid.gridSize;
    const int gridPoints = n[0]*n[1]*n[2];
    const bool needPotential = (forces != nullptr || chargeDerivatives != nullptr);
    const int numThreads = (threads == nullptr ? 1 : max(1, threads->getNumThreads()));

    // Box inverse: s = r h^{-1}, with the box vectors as the rows of h; recip[d] = column d of h^{-1}.
    Vec3 recip[3];
    double volume;
    int maxMode[3];
    SOGForceImpl::calcReciprocalBox(boxVectors, grid.kCutoff, n, recip, volume, maxMode);
    for (int i = 0; i < numParticles; i++) {
        const Vec3& r = positions[i];
        if (!(isfinite(r[0]) && isfinite(r[1]) && isfinite(r[2])))
            throw OpenMMException("SOGForce: particle " + to_string(i) + " has a non-finite position");
    }

    // Spreading weights, shared by every channel and by both transforms.
    firstIndex.resize(3*numParticles);
    weights.resize(3*numParticles*w);
    derivWeights.resize(needPotential ? 3*numParticles*w : 0);
    parallelFor(numParticles, [&](int begin, int end, int thread) {
        for (int i = begin; i < end; i++)
            for (int d = 0; d < 3; d++) {
                double s = positions[i].dot(recip[d]);
                s -= floor(s);
                double x = s*n[d];
                int j0 = (int) ceil(x - alpha);
                firstIndex[3*i + d] = j0;
                for (int t = 0; t < w; t++) {
                    double z = (x - (j0 + t))/alpha;
                    weights[(3*i + d)*w + t] = SOGForceImpl::calcKernelValue(z, grid.beta);
                    if (needPotential)
                        derivWeights[(3*i + d)*w + t] = SOGForceImpl::calcKernelDerivative(z, grid.beta)*n[d]/alpha;
                }
            }
    });

    // Visit particles in grid order so that neighbouring particles touch the same cache lines.
    vector<int> order(numParticles);
    vector<long long> cellKey(numParticles);
    for (int i = 0; i < numParticles; i++) {
        order[i] = i;
        cellKey[i] = ((long long) wrapIndex(firstIndex[3*i], n[0])*n[1] + wrapIndex(firstIndex[3*i + 1], n[1]))*n[2] +
                wrapIndex(firstIndex[3*i + 2], n[2]);
    }
    stable_sort(order.begin(), order.end(), [&](int i, int j) { return cellKey[i] < cellKey[j]; });
    // Wrapped grid indices of particle i along axis d: indices[d][t], t < w.
    auto wrappedIndices = [&](int i, int indices[3][16]) {
        for (int d = 0; d < 3; d++)
            for (int t = 0; t < w; t++)
                indices[d][t] = wrapIndex(firstIndex[3*i + d] + t, n[d]);
    };

    // Type 1: spread all channels in one pass, then FFT. Each thread owns a slab of x planes and
    // adds only the contributions that fall in it, so no two threads write the same point.
    for (int ch = 0; ch < P; ch++)
        grids[ch].assign(gridPoints, complex<double>(0.0, 0.0));
    parallelFor(n[0], [&](int firstPlane, int endPlane, int thread) {
        int indices[3][16];
        for (int i : order) {
            const double* wx = &weights[(3*i)*w];
            const double* wy = &weights[(3*i + 1)*w];
            const double* wz = &weights[(3*i + 2)*w];
            wrappedIndices(i, indices);
            for (int tx = 0; tx < w; tx++) {
                int gx = indices[0][tx];
                if (gx < firstPlane || gx >= endPlane)
                    continue;
                for (int ty = 0; ty < w; ty++) {
                    int gy = indices[1][ty];
                    double wxy = wx[tx]*wy[ty];
                    for (int tz = 0; tz < w; tz++) {
                        int gz = indices[2][tz];
                        double weight = wxy*wz[tz];
                        int index = (gx*n[1] + gy)*n[2] + gz;
                        for (int ch = 0; ch < P; ch++)
                            grids[ch][index] += charges[i*P + ch]*weight;
                    }
                }
            }
        }
    });
    for (int ch = 0; ch < P; ch++)
        fft.transform(grids[ch], true, threads, maxMode, true);  // the spread grid is real

    // Deconvolution factors D_d(m) = alpha psihat(2 pi m alpha / n_d) for |m| <= K_d.
    vector<double> deconvolution[3];
    for (int d = 0; d < 3; d++) {
        deconvolution[d].resize(2*maxMode[d] + 1);
        for (int m = -maxMode[d]; m <= maxMode[d]; m++)
            deconvolution[d][m + maxMode[d]] = alpha*SOGForceImpl::calcKernelTransform(2*M_PI*m*alpha/n[d], grid.beta);
    }

    // k-space: energy, and the type-2 input T_c(m) = ghat_c(k) S_c(m) / (V prod D) on kept modes.
    // Threads split the mx range; partial energies are summed in thread order (deterministic).
    if (needPotential)
        for (auto& potential : potentialGrids)
            potential.assign(gridPoints, complex<double>(0.0, 0.0));
    vector<double> threadEnergy(numThreads, 0.0);
    parallelFor(2*maxMode[0] + 1, [&](int begin, int end, int thread) {
        double sum = 0.0;
        for (int mx = begin - maxMode[0]; mx < end - maxMode[0]; mx++)
            for (int my = -maxMode[1]; my <= maxMode[1]; my++)
                for (int mz = -maxMode[2]; mz <= maxMode[2]; mz++) {
                    if (mx == 0 && my == 0 && mz == 0)
                        continue;
                    Vec3 k = (recip[0]*mx + recip[1]*my + recip[2]*mz)*(2*M_PI);
                    double k2 = k.dot(k);
                    double D = deconvolution[0][mx + maxMode[0]]*deconvolution[1][my + maxMode[1]]*deconvolution[2][mz + maxMode[2]];
                    int index = (wrapIndex(mx, n[0])*n[1] + wrapIndex(my, n[1]))*n[2] + wrapIndex(mz, n[2]);
                    for (int ch = 0; ch < P; ch++) {
                        double ghat = calcKernelTransform(ch, k2);
                        complex<double> S = grids[ch][index]/D;
                        sum += ghat*norm(S)/(2*volume);
                        if (needPotential)
                            potentialGrids[ch][index] = ghat*S/(volume*D);
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

    // Type 2: inverse FFT, then interpolate phi_c and its fractional gradient with the same weights.
    for (int ch = 0; ch < P; ch++)
        fft.transform(potentialGrids[ch], false, threads, maxMode, true);  // Hermitian input: real potential
    if (chargeDerivatives != nullptr)
        chargeDerivatives->resize(numParticles*P);
    parallelFor(numParticles, [&](int begin, int end, int thread) {
        vector<double> phi(P);
        vector<Vec3> fractionalGradient(P);
        int indices[3][16];
        for (int sorted = begin; sorted < end; sorted++) {
            const int i = order[sorted];
            wrappedIndices(i, indices);
            const double* wx = &weights[(3*i)*w];
            const double* wy = &weights[(3*i + 1)*w];
            const double* wz = &weights[(3*i + 2)*w];
            const double* dx = &derivWeights[(3*i)*w];
            const double* dy = &derivWeights[(3*i + 1)*w];
            const double* dz = &derivWeights[(3*i + 2)*w];
            for (int ch = 0; ch < P; ch++) {
                phi[ch] = 0.0;
                fractionalGradient[ch] = Vec3();
            }
            for (int tx = 0; tx < w; tx++) {
                int gx = indices[0][tx];
                for (int ty = 0; ty < w; ty++) {
                    int gy = indices[1][ty];
                    for (int tz = 0; tz < w; tz++) {
                        int gz = indices[2][tz];
                        int index = (gx*n[1] + gy)*n[2] + gz;
                        double value = wx[tx]*wy[ty]*wz[tz];
                        Vec3 gradient(dx[tx]*wy[ty]*wz[tz], wx[tx]*dy[ty]*wz[tz], wx[tx]*wy[ty]*dz[tz]);
                        for (int ch = 0; ch < P; ch++) {
                            double u = potentialGrids[ch][index].real();
                            phi[ch] += u*value;
                            fractionalGradient[ch] += gradient*u;
                        }
                    }
                }
            }
            for (int ch = 0; ch < P; ch++) {
                double q = charges[i*P + ch];
                if (forces != nullptr) {
                    // d phi/dr = sum_d (d phi/ds_d) recip[d]
                    const Vec3& g = fractionalGradient[ch];
                    (*forces)[i] -= (recip[0]*g[0] + recip[1]*g[1] + recip[2]*g[2])*q;
                }
                if (chargeDerivatives != nullptr)
                    (*chargeDerivatives)[i*P + ch] = phi[ch] - selfKernel[ch]*q;
            }
        }
    });
    return energy;
}
