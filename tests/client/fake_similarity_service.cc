#include "tests/client/fake_similarity_service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "absl/strings/str_cat.h"

namespace simile::testing {

namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// Decodes `m` into `out`, or an INVALID_ARGUMENT naming `name`.
grpc::Status Decode(const std::string& name, const v1::Matrix& m, std::vector<float>* out) {
  if (m.rows() == 0 || m.dim() == 0) {
    return Invalid(absl::StrCat(name, ": rows and dim must be >= 1"));
  }
  const size_t count = size_t{m.rows()} * m.dim();
  const bool raw = !m.raw().empty();
  if (raw == (m.values_size() > 0)) {
    return Invalid(absl::StrCat(name, ": exactly one of values or raw must be set"));
  }
  if (raw ? m.raw().size() != count * 4 : static_cast<size_t>(m.values_size()) != count) {
    return Invalid(absl::StrCat(name, ": data length does not match rows * dim"));
  }
  out->resize(count);
  if (raw) {
    std::memcpy(out->data(), m.raw().data(), m.raw().size());
  } else {
    std::copy(m.values().begin(), m.values().end(), out->begin());
  }
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite((*out)[i])) {
      return Invalid(absl::StrCat(name, ": row ", i / m.dim(), " has a non-finite value"));
    }
  }
  return grpc::Status::OK;
}

double Norm(const float* v, size_t dim) {
  double sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    sum += double{v[i]} * v[i];
  }
  return std::sqrt(sum);
}

}  // namespace

grpc::Status ComputeCosine(const v1::CosineRequest& request, v1::CosineResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  if (!request.has_queries() || !request.has_targets()) {
    return Invalid("queries and targets are required");
  }
  std::vector<float> queries;
  std::vector<float> targets;
  if (grpc::Status s = Decode("queries", request.queries(), &queries); !s.ok()) {
    return s;
  }
  if (grpc::Status s = Decode("targets", request.targets(), &targets); !s.ok()) {
    return s;
  }
  const size_t q = request.queries().rows();
  const size_t n = request.targets().rows();
  const size_t dim = request.queries().dim();
  if (request.targets().dim() != dim) {
    return Invalid("targets.dim differs from queries.dim");
  }
  if (request.top_k() > n) {
    return Invalid(absl::StrCat("top_k ", request.top_k(), " is larger than the ", n, " targets"));
  }
  if (request.placement() == v1::PLACEMENT_GPU) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "no usable GPU on this (fake) server");
  }
  std::vector<float> scores(q * n);
  for (size_t i = 0; i < q; ++i) {
    const double qn = Norm(&queries[i * dim], dim);
    for (size_t t = 0; t < n; ++t) {
      const double tn = Norm(&targets[t * dim], dim);
      double dot = 0;
      for (size_t d = 0; d < dim; ++d) {
        dot += double{queries[i * dim + d]} * targets[t * dim + d];
      }
      scores[i * n + t] = qn == 0 || tn == 0 ? 0.0f : static_cast<float>(dot / (qn * tn));
    }
  }
  response->set_num_queries(static_cast<uint32_t>(q));
  response->set_num_targets(static_cast<uint32_t>(n));
  response->set_top_k(request.top_k());
  if (request.top_k() == 0) {
    v1::Matrix* m = response->mutable_scores();
    m->set_rows(static_cast<uint32_t>(q));
    m->set_dim(static_cast<uint32_t>(n));
    if (!request.queries().raw().empty()) {
      m->set_raw(std::string(reinterpret_cast<const char*>(scores.data()), scores.size() * 4));
    } else {
      m->mutable_values()->Assign(scores.begin(), scores.end());
    }
  } else {
    std::vector<uint32_t> order(n);
    for (size_t i = 0; i < q; ++i) {
      const float* row = &scores[i * n];
      std::iota(order.begin(), order.end(), 0u);
      std::stable_sort(order.begin(), order.end(),
                       [row](uint32_t a, uint32_t b) { return row[a] > row[b]; });
      for (size_t j = 0; j < request.top_k(); ++j) {
        response->add_top_indices(order[j]);
        response->add_top_scores(row[order[j]]);
      }
    }
  }
  v1::ExecutionReport* report = response->mutable_report();
  report->set_backend(v1::BACKEND_CPU);
  report->set_rule(request.placement() == v1::PLACEMENT_CPU ? v1::DISPATCH_RULE_PLACEMENT_CPU
                                                            : v1::DISPATCH_RULE_GPU_UNAVAILABLE);
  report->set_chunks(1);
  report->set_cpu_chunks(1);
  report->set_compute_time_ns(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count()));
  return grpc::Status::OK;
}

grpc::Status FakeSimilarityService::Cosine(grpc::ServerContext* /*context*/,
                                           const v1::CosineRequest* request,
                                           v1::CosineResponse* response) {
  Responder responder;
  {
    absl::MutexLock lock(&mu_);
    last_request_ = *request;
    ++calls_;
    responder = responder_;
  }
  return responder(*request, response);
}

void FakeSimilarityService::set_responder(Responder responder) {
  absl::MutexLock lock(&mu_);
  responder_ = std::move(responder);
}

v1::CosineRequest FakeSimilarityService::last_request() const {
  absl::MutexLock lock(&mu_);
  return last_request_;
}

int FakeSimilarityService::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

FakeServer::FakeServer() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(64 << 20);  // simile-server's default.
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    throw std::runtime_error("FakeServer: could not listen on 127.0.0.1:0");
  }
  address_ = absl::StrCat("127.0.0.1:", port);
  server_->GetHealthCheckService()->SetServingStatus(v1::Similarity::service_full_name(), true);
}

FakeServer::~FakeServer() { server_->Shutdown(std::chrono::system_clock::now()); }

}  // namespace simile::testing
