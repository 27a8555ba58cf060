// Keepalive and TCP_USER_TIMEOUT on a socket's fd, set and read back with
// setsockopt/getsockopt. Node has no API for TCP_USER_TIMEOUT, and before 26.4 none for
// TCP_KEEPINTVL / TCP_KEEPCNT (libuv fixes them at 1 s and 10).
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

static int throw_errno(napi_env env, const char* what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s failed: %s", what, strerror(errno));
  napi_value code, message, err;
  napi_create_string_utf8(env, "HALFOPEN_ERR_SOCKOPT", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &err);
  napi_throw(env, err);
  return -1;
}

static int opt(napi_env env, int fd, int level, int name, int32_t value, const char* what) {
  if (value < 0) return 0;  // -1: leave as it is
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) return throw_errno(env, what);
  return 0;
}

// set(fd, keepalive 0/1/-1, idleSec, intervalSec, count, userTimeoutMs); -1 leaves a value alone.
static napi_value Set(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  int32_t v[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 6) {
    napi_throw_type_error(env, NULL, "set(fd, keepalive, idle, interval, count, userTimeout)");
    return NULL;
  }
  for (int i = 0; i < 6; i++) {
    if (napi_get_value_int32(env, argv[i], &v[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "set(): every argument must be an integer");
      return NULL;
    }
  }
  int fd = v[0];
  if (opt(env, fd, SOL_SOCKET, SO_KEEPALIVE, v[1], "setsockopt(SO_KEEPALIVE)") ||
      opt(env, fd, IPPROTO_TCP, TCP_KEEPIDLE, v[2], "setsockopt(TCP_KEEPIDLE)") ||
      opt(env, fd, IPPROTO_TCP, TCP_KEEPINTVL, v[3], "setsockopt(TCP_KEEPINTVL)") ||
      opt(env, fd, IPPROTO_TCP, TCP_KEEPCNT, v[4], "setsockopt(TCP_KEEPCNT)") ||
      opt(env, fd, IPPROTO_TCP, TCP_USER_TIMEOUT, v[5], "setsockopt(TCP_USER_TIMEOUT)")) {
    return NULL;
  }
  return NULL;
}

static int get1(napi_env env, int fd, int level, int name, const char* key, napi_value obj) {
  int32_t value = 0;
  socklen_t len = sizeof value;
  if (getsockopt(fd, level, name, &value, &len) != 0) return throw_errno(env, key);
  napi_value n;
  napi_create_int32(env, value, &n);
  napi_set_named_property(env, obj, key, n);
  return 0;
}

// get(fd) -> { keepalive, idle (s), interval (s), count, userTimeout (ms) }
static napi_value Get(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "get(fd)");
    return NULL;
  }
  napi_value obj;
  napi_create_object(env, &obj);
  if (get1(env, fd, SOL_SOCKET, SO_KEEPALIVE, "keepalive", obj) ||
      get1(env, fd, IPPROTO_TCP, TCP_KEEPIDLE, "idle", obj) ||
      get1(env, fd, IPPROTO_TCP, TCP_KEEPINTVL, "interval", obj) ||
      get1(env, fd, IPPROTO_TCP, TCP_KEEPCNT, "count", obj) ||
      get1(env, fd, IPPROTO_TCP, TCP_USER_TIMEOUT, "userTimeout", obj)) {
    return NULL;
  }
  return obj;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "set", NAPI_AUTO_LENGTH, Set, NULL, &fn);
  napi_set_named_property(env, exports, "set", fn);
  napi_create_function(env, "get", NAPI_AUTO_LENGTH, Get, NULL, &fn);
  napi_set_named_property(env, exports, "get", fn);
  return exports;
}
