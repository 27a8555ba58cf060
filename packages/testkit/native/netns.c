// setns(2) for the calling thread: lets a test body create its sockets inside a network
// namespace the test made. libuv creates TCP sockets on the loop thread, so entering on
// the loop thread puts every socket created afterwards inside the namespace.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <node_api.h>

static napi_value Enter(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "enter(fd): fd must be a non-negative integer");
    return NULL;
  }
  if (setns(fd, CLONE_NEWNET) != 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "setns(CLONE_NEWNET) failed: %s", strerror(errno));
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "enter", NAPI_AUTO_LENGTH, Enter, NULL, &fn);
  napi_set_named_property(env, exports, "enter", fn);
  return exports;
}
