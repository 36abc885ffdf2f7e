// Fused mixing of a supernet node's elementwise ops, for CPU.
//
// MixElementwise: ys[j] = base[..., j*C:(j+1)*C] (+ pending[j]) +
// sum_i w[i, j] * f_i(x), with f_i in {relu, tanh, identity}: one pass over x,
// `base` (the concatenated, already weighted conv outputs of the same edges)
// and the nodes' `pending` sums, if given, writes every node's sum, where TF
// ops would write f_i(x), split `base` and multiply and add tensor by tensor.
// MixElementwiseGrad returns dL/dx, dL/dbase (the dys, concatenated) and
// dL/dw; dL/dpending is the dys themselves (rl_darts/fused.py). Same
// arithmetic as the TF ops, in another summation order.

#include <algorithm>
#include <string>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::errors::InvalidArgument;

enum Fn { kRelu, kTanh, kIdentity };

// Pixels per chunk: a chunk's f_i(x) stay in L1 between the nodes' passes.
constexpr int64_t kChunkPixels = 32;
// Pixels per parallel block; blocks are fixed, so sums over them are too.
constexpr int64_t kBlockPixels = 1024;

std::vector<Fn> ParseFns(OpKernelConstruction* context) {
  std::vector<std::string> names;
  const tensorflow::Status status = context->GetAttr("fns", &names);
  if (!status.ok()) {
    context->CtxFailure(status);
    return {};
  }
  std::vector<Fn> fns;
  for (const std::string& name : names) {
    if (name == "relu") {
      fns.push_back(kRelu);
    } else if (name == "tanh") {
      fns.push_back(kTanh);
    } else if (name == "identity") {
      fns.push_back(kIdentity);
    } else {
      context->CtxFailure(InvalidArgument(
          "unknown elementwise fn '", name,
          "'; allowed: relu, tanh, identity"));
      return {};
    }
  }
  return fns;
}

// f(x) into `value` and, if `slope` is set, f'(x) into `slope`.
void Apply(Fn fn, const float* x, int64_t n, float* value, float* slope) {
  using Array = Eigen::Map<Eigen::ArrayXf>;
  using ConstArray = Eigen::Map<const Eigen::ArrayXf>;
  ConstArray in(x, n);
  Array out(value, n);
  switch (fn) {
    case kRelu:
      out = in.max(0.0f);
      if (slope) Array(slope, n) = (in > 0.0f).cast<float>();
      break;
    case kTanh:
      out = in.tanh();
      if (slope) Array(slope, n) = 1.0f - out.square();
      break;
    case kIdentity:
      out = in;
      if (slope) Array(slope, n).setOnes();
      break;
  }
}

// Runs body(begin, end, block) on the op's CPU worker threads for each block
// of kBlockPixels pixels in [0, pixels); `cost` is a pixel's, in cycles.
template <typename Body>
void ForBlocks(OpKernelContext* context, int64_t pixels, int64_t cost,
               Body body) {
  auto* workers = context->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t blocks = (pixels + kBlockPixels - 1) / kBlockPixels;
  workers->ParallelFor(blocks, cost * kBlockPixels,
                       [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      body(b * kBlockPixels, std::min(pixels, (b + 1) * kBlockPixels), b);
    }
  });
}

// Both kernels: the `fns` attribute, parsed once.
class MixKernel : public OpKernel {
 public:
  explicit MixKernel(OpKernelConstruction* context)
      : OpKernel(context), fns_(ParseFns(context)) {}

 protected:
  const std::vector<Fn> fns_;
};

class MixElementwiseOp : public MixKernel {
 public:
  using MixKernel::MixKernel;

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& base = context->input(1);
    const Tensor& w = context->input(2);
    const int64_t m = fns_.size();
    OP_REQUIRES(context, w.dims() == 2 && w.dim_size(0) == m,
                InvalidArgument("weights must be [", m, ", K], got ",
                                w.shape().DebugString()));
    const int64_t k = w.dim_size(1);
    OP_REQUIRES(context, x.dims() >= 1 && base.dims() == x.dims(),
                InvalidArgument("x and base must have the same rank"));
    tensorflow::OpInputList pending;
    OP_REQUIRES_OK(context, context->input_list("pending", &pending));
    OP_REQUIRES(context, pending.size() == 0 || pending.size() == k,
                InvalidArgument("pending must be empty or K = ", k,
                                " tensors, got ", pending.size()));
    std::vector<const float*> pend(pending.size());
    for (int64_t j = 0; j < pending.size(); ++j) {
      OP_REQUIRES(context, pending[j].shape() == x.shape(),
                  InvalidArgument("every pending sum must have x's shape"));
      pend[j] = pending[j].flat<float>().data();
    }
    const int64_t c = x.dim_size(x.dims() - 1);
    const int64_t pixels = c ? x.NumElements() / c : 0;
    OP_REQUIRES(context, base.NumElements() == pixels * k * c,
                InvalidArgument("base must be x's shape with K * C channels"));
    tensorflow::OpOutputList ys;
    OP_REQUIRES_OK(context, context->output_list("ys", &ys));
    OP_REQUIRES(context, ys.size() == k,
                InvalidArgument("num_outputs must equal K = ", k));
    std::vector<float*> out(k);
    for (int64_t j = 0; j < k; ++j) {
      Tensor* y = nullptr;
      OP_REQUIRES_OK(context, ys.allocate(j, x.shape(), &y));
      out[j] = y->flat<float>().data();
    }
    const float* xs = x.flat<float>().data();
    const float* bs = base.flat<float>().data();
    const float* ws = w.flat<float>().data();
    const auto& fns = fns_;
    ForBlocks(context, pixels, (m + 3) * k * c * 4,
              [&, c, k, m](int64_t begin, int64_t end, int64_t) {
      std::vector<float> f(m * kChunkPixels * c);
      for (int64_t p0 = begin; p0 < end; p0 += kChunkPixels) {
        const int64_t n = std::min(kChunkPixels, end - p0) * c;
        for (int64_t i = 0; i < m; ++i) {
          Apply(fns[i], xs + p0 * c, n, f.data() + i * n, nullptr);
        }
        // Pixel by pixel: y_j = base_j (+ pending_j) + sum_i w[i, j] f_i.
        for (int64_t p = 0; p < n / c; ++p) {
          const float* __restrict__ b = bs + (p0 + p) * k * c;
          for (int64_t j = 0; j < k; ++j) {
            float* __restrict__ y = out[j] + (p0 + p) * c;
            const float w0j = ws[j];
            const float* __restrict__ f0 = f.data() + p * c;
            for (int64_t ch = 0; ch < c; ++ch) {
              y[ch] = b[j * c + ch] + w0j * f0[ch];
            }
            if (!pend.empty()) {
              const float* __restrict__ q = pend[j] + (p0 + p) * c;
              for (int64_t ch = 0; ch < c; ++ch) y[ch] += q[ch];
            }
            for (int64_t i = 1; i < m; ++i) {
              const float wij = ws[i * k + j];
              const float* __restrict__ fi = f.data() + i * n + p * c;
              for (int64_t ch = 0; ch < c; ++ch) y[ch] += wij * fi[ch];
            }
          }
        }
      }
    });
  }
};

class MixElementwiseGradOp : public MixKernel {
 public:
  using MixKernel::MixKernel;

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& w = context->input(1);
    tensorflow::OpInputList dys;
    OP_REQUIRES_OK(context, context->input_list("dys", &dys));
    const int64_t m = fns_.size(), k = dys.size();
    OP_REQUIRES(context, w.dims() == 2 && w.dim_size(0) == m &&
                             w.dim_size(1) == k,
                InvalidArgument("weights must be [", m, ", ", k, "], got ",
                                w.shape().DebugString()));
    for (int64_t j = 0; j < k; ++j) {
      OP_REQUIRES(context, dys[j].shape() == x.shape(),
                  InvalidArgument("every dy must have x's shape"));
    }
    const int64_t c = x.dim_size(x.dims() - 1);
    const int64_t pixels = c ? x.NumElements() / c : 0;
    tensorflow::TensorShape base_shape = x.shape();
    base_shape.set_dim(x.dims() - 1, k * c);
    Tensor *dx = nullptr, *dbase = nullptr, *dw = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(context, context->allocate_output(1, base_shape, &dbase));
    OP_REQUIRES_OK(context, context->allocate_output(2, w.shape(), &dw));
    std::vector<const float*> dy(k);
    for (int64_t j = 0; j < k; ++j) dy[j] = dys[j].flat<float>().data();
    const float* xs = x.flat<float>().data();
    const float* ws = w.flat<float>().data();
    float* dxs = dx->flat<float>().data();
    float* dbs = dbase->flat<float>().data();
    // dw per block, summed in block order: the same result on every run.
    const int64_t blocks = (pixels + kBlockPixels - 1) / kBlockPixels;
    std::vector<double> dw_blocks(blocks * m * k, 0.0);
    const auto& fns = fns_;
    ForBlocks(context, pixels, (2 * m + 2) * k * c * 4,
              [&, c, k, m](int64_t begin, int64_t end, int64_t block) {
      using Array = Eigen::Map<Eigen::ArrayXf>;
      using ConstArray = Eigen::Map<const Eigen::ArrayXf>;
      const int64_t chunk = kChunkPixels * c;
      std::vector<float> f(m * chunk), slope(m * chunk), g(m * chunk);
      double* dw_part = dw_blocks.data() + block * m * k;
      for (int64_t p0 = begin; p0 < end; p0 += kChunkPixels) {
        const int64_t n = std::min(kChunkPixels, end - p0) * c;
        const int64_t offset = p0 * c;
        for (int64_t i = 0; i < m; ++i) {
          Apply(fns[i], xs + offset, n, f.data() + i * chunk,
                slope.data() + i * chunk);
          Array(g.data() + i * chunk, n).setZero();
        }
        // dbase = concat(dys); g_i = sum_j w[i, j] dy_j; dw[i, j] = <dy_j, f_i>.
        for (int64_t j = 0; j < k; ++j) {
          ConstArray dyj(dy[j] + offset, n);
          // dbase_j = dy_j (strided) and g_0 += w[0, j] dy_j, pixel by pixel.
          const float w0j = ws[j];
          float* __restrict__ g0 = g.data();
          for (int64_t p = 0; p < n / c; ++p) {
            const float* __restrict__ src = dy[j] + offset + p * c;
            float* __restrict__ dst = dbs + ((p0 + p) * k + j) * c;
            for (int64_t ch = 0; ch < c; ++ch) {
              dst[ch] = src[ch];
              g0[p * c + ch] += w0j * src[ch];
            }
          }
          dw_part[j] += (dyj * ConstArray(f.data(), n)).sum();
          for (int64_t i = 1; i < m; ++i) {
            Array(g.data() + i * chunk, n) += ws[i * k + j] * dyj;
            dw_part[i * k + j] += (dyj * ConstArray(f.data() + i * chunk, n)).sum();
          }
        }
        // dx = sum_i f_i'(x) g_i.
        Array out(dxs + offset, n);
        out = ConstArray(slope.data(), n) * ConstArray(g.data(), n);
        for (int64_t i = 1; i < m; ++i) {
          out += ConstArray(slope.data() + i * chunk, n) *
                 ConstArray(g.data() + i * chunk, n);
        }
      }
    });
    float* dws = dw->flat<float>().data();
    for (int64_t i = 0; i < m * k; ++i) {
      double total = 0.0;
      for (int64_t b = 0; b < blocks; ++b) total += dw_blocks[b * m * k + i];
      dws[i] = static_cast<float>(total);
    }
  }
};

}  // namespace

REGISTER_OP("MixElementwise")
    .Input("x: float")
    .Input("base: float")
    .Input("weights: float")
    .Input("pending: num_pending * float")
    .Attr("fns: list(string)")
    .Attr("num_outputs: int >= 1")
    .Attr("num_pending: int >= 0")
    .Output("ys: num_outputs * float")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      for (int i = 0; i < c->num_outputs(); ++i) c->set_output(i, c->input(0));
      return tensorflow::OkStatus();
    });

REGISTER_OP("MixElementwiseGrad")
    .Input("x: float")
    .Input("weights: float")
    .Input("dys: num_outputs * float")
    .Attr("fns: list(string)")
    .Attr("num_outputs: int >= 1")
    .Output("dx: float")
    .Output("dbase: float")
    .Output("dw: float")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      // dbase: x's shape with K = num_outputs times its channels.
      tensorflow::shape_inference::ShapeHandle x, base;
      tensorflow::shape_inference::DimensionHandle channels;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &x));
      TF_RETURN_IF_ERROR(
          c->Multiply(c->Dim(x, -1), c->num_inputs() - 2, &channels));
      TF_RETURN_IF_ERROR(c->ReplaceDim(x, -1, channels, &base));
      c->set_output(0, x);
      c->set_output(1, base);
      c->set_output(2, c->input(1));
      return tensorflow::OkStatus();
    });

REGISTER_KERNEL_BUILDER(
    Name("MixElementwise").Device(tensorflow::DEVICE_CPU), MixElementwiseOp);
REGISTER_KERNEL_BUILDER(
    Name("MixElementwiseGrad").Device(tensorflow::DEVICE_CPU),
    MixElementwiseGradOp);
