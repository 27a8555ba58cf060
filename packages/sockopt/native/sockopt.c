// The native part of @halfopen/sockopt: keepalive and TCP_USER_TIMEOUT set and read back,
// TCP_INFO and SIOCOUTQ, on a socket's fd. Plain C against N-API (ABI-stable: one binary per
// platform serves every Node from 20 on); built by scripts/prebuild.mjs with cc, no node-gyp.
//
// Errors are not thrown here: each call returns 0 or an errno and says which option failed,
// and the JavaScript side raises a coded SockoptError. Nothing here allocates per call
// except the numbers N-API hands back.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <node_api.h>

// Linux's struct tcp_info (include/uapi/linux/tcp.h). Our own copy, so the layout does not
// depend on how old the C library's headers are; the kernel only ever appends fields and
// returns how many bytes it filled, which says which fields this kernel has.
struct hop_tcp_info {
  uint8_t state, ca_state, retransmits, probes, backoff, options, wscale, flags;
  uint32_t rto, ato, snd_mss, rcv_mss;
  uint32_t unacked, sacked, lost, retrans, fackets;
  uint32_t last_data_sent, last_ack_sent, last_data_recv, last_ack_recv;
  uint32_t pmtu, rcv_ssthresh, rtt, rttvar, snd_ssthresh, snd_cwnd, advmss, reordering;
  uint32_t rcv_rtt, rcv_space;
  uint32_t total_retrans;
  uint64_t pacing_rate, max_pacing_rate;
  uint64_t bytes_acked;     // 4.1
  uint64_t bytes_received;  // 4.1
  uint32_t segs_out, segs_in;
  uint32_t notsent_bytes;  // 4.6
  uint32_t min_rtt, data_segs_in, data_segs_out;
  uint64_t delivery_rate;
  uint64_t busy_time, rwnd_limited, sndbuf_limited;
  uint32_t delivered, delivered_ce;
  uint64_t bytes_sent, bytes_retrans;
  uint32_t dsack_dups, reord_seen;
  uint32_t rcv_ooopack;
  uint32_t snd_wnd;  // 5.4
};

static int32_t arg_int(napi_env env, napi_value v) {
  int32_t n = -1;
  napi_get_value_int32(env, v, &n);
  return n;
}

static napi_value number(napi_env env, double n) {
  napi_value v;
  napi_create_double(env, n, &v);
  return v;
}

// The data of a typed array of exactly the element type asked for, with at least min_len
// elements; NULL otherwise (a Uint8Array of the right length would be written past its end).
static void* typed_data(napi_env env, napi_value v, napi_typedarray_type want, size_t min_len) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = NULL;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok) return NULL;
  return type == want && length >= min_len ? data : NULL;
}

static const struct {
  int level, name;
} OPTS[5] = {
    {SOL_SOCKET, SO_KEEPALIVE},    {IPPROTO_TCP, TCP_KEEPIDLE},     {IPPROTO_TCP, TCP_KEEPINTVL},
    {IPPROTO_TCP, TCP_KEEPCNT},    {IPPROTO_TCP, TCP_USER_TIMEOUT},
};

// sockopts(fd, out: Int32Array(7), keepalive, idleSec, intervalSec, count, userTimeoutMs)
// A value of -1 leaves that option alone. Sets the given ones in order, then reads all five
// back into out[0..4]. Returns 0, or an errno with out[5] = the option's index (0..4) and
// out[6] = 0 for setsockopt, 1 for getsockopt.
static napi_value Sockopts(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t* out = argc == 7 ? typed_data(env, argv[1], napi_int32_array, 7) : NULL;
  if (out == NULL) {
    napi_throw_type_error(env, NULL, "sockopts(fd, Int32Array(7), keepalive, idle, interval, count, userTimeout)");
    return NULL;
  }
  int fd = arg_int(env, argv[0]);
  for (int i = 0; i < 5; i++) {
    int32_t value = arg_int(env, argv[i + 2]);
    if (value < 0) continue;
    if (setsockopt(fd, OPTS[i].level, OPTS[i].name, &value, sizeof value) != 0) {
      out[5] = i;
      out[6] = 0;
      return number(env, errno);
    }
  }
  for (int i = 0; i < 5; i++) {
    int32_t value = 0;
    socklen_t len = sizeof value;
    if (getsockopt(fd, OPTS[i].level, OPTS[i].name, &value, &len) != 0) {
      out[5] = i;
      out[6] = 1;
      return number(env, errno);
    }
    out[i] = value;
  }
  return number(env, 0);
}

#define FIELD(i, f)                                                                   \
  out[i] = (len >= offsetof(struct hop_tcp_info, f) + sizeof(t.f)) ? (double)t.f : -1
// tcpInfo(fd, out: Float64Array(TCP_INFO_FIELDS)) -> 0 or an errno. A field the kernel did not
// fill is -1 (every real value is unsigned). The order is the one src/native.ts reads.
#define TCP_INFO_FIELDS 18
static napi_value TcpInfo(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double* out = argc == 2 ? typed_data(env, argv[1], napi_float64_array, TCP_INFO_FIELDS) : NULL;
  if (out == NULL) {
    napi_throw_type_error(env, NULL, "tcpInfo(fd, Float64Array(18))");
    return NULL;
  }
  struct hop_tcp_info t;
  memset(&t, 0, sizeof t);
  socklen_t len = sizeof t;
  if (getsockopt(arg_int(env, argv[0]), IPPROTO_TCP, TCP_INFO, &t, &len) != 0) {
    return number(env, errno);
  }
  FIELD(0, state);
  FIELD(1, rtt);
  FIELD(2, rttvar);
  FIELD(3, retransmits);
  FIELD(4, total_retrans);
  FIELD(5, probes);
  FIELD(6, backoff);
  FIELD(7, unacked);
  FIELD(8, lost);
  FIELD(9, bytes_acked);
  FIELD(10, bytes_received);
  FIELD(11, notsent_bytes);
  FIELD(12, snd_wnd);
  FIELD(13, snd_cwnd);
  FIELD(14, snd_mss);
  FIELD(15, last_data_recv);
  FIELD(16, last_ack_recv);
  FIELD(17, last_data_sent);
  return number(env, 0);
}

// sendQueue(fd) -> bytes in the send queue not yet acknowledged (SIOCOUTQ, the same request
// number as TIOCOUTQ), or -errno.
static napi_value SendQueue(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int value = 0;
  if (argc < 1) return number(env, -EINVAL);
  if (ioctl(arg_int(env, argv[0]), TIOCOUTQ, &value) != 0) return number(env, -errno);
  return number(env, value);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "sockopts", NAPI_AUTO_LENGTH, Sockopts, NULL, &fn);
  napi_set_named_property(env, exports, "sockopts", fn);
  napi_create_function(env, "tcpInfo", NAPI_AUTO_LENGTH, TcpInfo, NULL, &fn);
  napi_set_named_property(env, exports, "tcpInfo", fn);
  napi_create_function(env, "sendQueue", NAPI_AUTO_LENGTH, SendQueue, NULL, &fn);
  napi_set_named_property(env, exports, "sendQueue", fn);
  napi_value n;
  napi_create_uint32(env, TCP_INFO_FIELDS, &n);
  napi_set_named_property(env, exports, "tcpInfoFields", n);
  return exports;
}
