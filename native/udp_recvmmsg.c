// Batched UDP reads for the receive thread (Linux): one recvmmsg(2) call fills up to `slots`
// datagrams, and JavaScript is called once per batch instead of once per datagram. Node's dgram
// socket makes a Buffer, a rinfo object and a callback per datagram, which under a flood costs the
// receive thread more than the datagrams themselves.
//
// The socket is the reader's own (socket, setsockopt, bind), watched by a uv_poll_t on the event
// loop of the thread that opened it. Each batch is written into memory JavaScript owns and reads:
//   data: slots × slotBytes bytes, datagram i at i × slotBytes;
//   meta: slots × META_WORDS uint32: length, flags (1: cut by the kernel, longer than slotBytes),
//         source port, family (4 or 6), the source address (16 bytes), its text length and text.
// JavaScript must be done with a batch when its callback returns: the next batch overwrites it.
//
// Built by native/build.mjs into build/native/udp_recvmmsg.node; src/ingest/udp-batch.ts loads it
// and falls back to Node's dgram when it is missing (ingest.udp.reader).
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define META_WORDS 32  /* must match src/ingest/udp-batch.ts */
#define META_TEXT_WORD 9
#define MAX_SLOTS 1024

typedef struct reader {
  napi_env env;
  napi_ref self;       /* the JS object, kept alive while the socket is open */
  napi_ref on_batch;   /* (count) => void */
  napi_ref on_error;   /* (code) => void */
  napi_ref data_ref;
  napi_ref meta_ref;
  napi_async_context async;
  uv_poll_t poll;
  int fd;
  int open;
  uint32_t slots;
  uint32_t slot_bytes;
  uint32_t max_batches; /* recvmmsg calls per wakeup, at most */
  uint8_t *data;
  uint32_t *meta;
  struct mmsghdr *msgs;
  struct iovec *iov;
  struct sockaddr_storage *addrs;
} reader_t;

#define CHECK(env, call)                                     \
  do {                                                       \
    if ((call) != napi_ok) {                                 \
      napi_throw_error((env), "PTIM_NATIVE", #call " failed"); \
      return NULL;                                           \
    }                                                        \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, uv_err_name(-err), msg);
  return NULL;
}

static void fill_meta(reader_t *r, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    uint32_t *m = r->meta + (size_t)i * META_WORDS;
    struct sockaddr_storage *sa = &r->addrs[i];
    m[0] = r->msgs[i].msg_len > r->slot_bytes ? r->slot_bytes : r->msgs[i].msg_len;
    m[1] = (r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
    char *text = (char *)(m + META_TEXT_WORD);
    const socklen_t room = (META_WORDS - META_TEXT_WORD) * 4;
    if (sa->ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)sa;
      m[2] = ntohs(a->sin_port);
      m[3] = 4;
      memset(m + 4, 0, 16);
      memcpy(m + 4, &a->sin_addr, 4);
      m[8] = inet_ntop(AF_INET, &a->sin_addr, text, room) ? (uint32_t)strlen(text) : 0;
    } else {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
      m[2] = ntohs(a->sin6_port);
      m[3] = 6;
      memcpy(m + 4, &a->sin6_addr, 16);
      m[8] = inet_ntop(AF_INET6, &a->sin6_addr, text, room) ? (uint32_t)strlen(text) : 0;
    }
  }
}

/* The headers point at fixed slots and addresses: set once at open. */
static void init_headers(reader_t *r) {
  for (uint32_t i = 0; i < r->slots; i++) {
    r->iov[i].iov_base = r->data + (size_t)i * r->slot_bytes;
    r->iov[i].iov_len = r->slot_bytes;
    r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
    r->msgs[i].msg_hdr.msg_name = &r->addrs[i];
    r->msgs[i].msg_hdr.msg_namelen = sizeof r->addrs[i];
  }
}

/* recvmmsg rewrites each used header's address length (the flags and length are outputs only). */
static void rearm_headers(reader_t *r, unsigned n) {
  for (unsigned i = 0; i < n; i++) r->msgs[i].msg_hdr.msg_namelen = sizeof r->addrs[i];
}

static void call_js(reader_t *r, napi_ref fn_ref, napi_value arg) {
  napi_env env = r->env;
  napi_value fn, self, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  if (napi_get_reference_value(env, r->self, &self) != napi_ok || self == NULL) return;
  /* napi_make_callback runs the microtasks queued by the callback, as Node does after I/O. */
  if (napi_make_callback(env, r->async, self, fn, 1, &arg, &result) == napi_pending_exception) {
    /* A throw in the handler is uncaught, as it would be in a dgram 'message' listener. */
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  reader_t *r = (reader_t *)handle->data;
  (void)events;
  napi_handle_scope scope;
  if (napi_open_handle_scope(r->env, &scope) != napi_ok) return;
  if (status < 0) {
    napi_value code;
    napi_create_string_utf8(r->env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
    call_js(r, r->on_error, code);
  } else {
    for (uint32_t b = 0; b < r->max_batches && r->open; b++) {
      int n = recvmmsg(r->fd, r->msgs, r->slots, MSG_DONTWAIT, NULL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          napi_value code;
          napi_create_string_utf8(r->env, uv_err_name(-errno), NAPI_AUTO_LENGTH, &code);
          call_js(r, r->on_error, code);
        }
        break;
      }
      if (n == 0) break;
      fill_meta(r, (unsigned)n);
      napi_value count;
      napi_create_uint32(r->env, (uint32_t)n, &count);
      call_js(r, r->on_batch, count);
      rearm_headers(r, (unsigned)n);
      if ((uint32_t)n < r->slots) break; /* the queue is empty */
    }
  }
  napi_close_handle_scope(r->env, scope);
}

static void free_reader(reader_t *r) {
  free(r->msgs);
  free(r->iov);
  free(r->addrs);
  free(r);
}

static void on_poll_closed(uv_handle_t *handle) { free_reader((reader_t *)handle->data); }

/* uv_poll_stop takes the fd out of epoll at once, so it is closed now: the port is free when
 * close() returns. The handle's memory goes when the loop has closed it. */
static void stop_and_close(reader_t *r) {
  r->open = 0;
  uv_poll_stop(&r->poll);
  close(r->fd);
  r->fd = -1;
  uv_close((uv_handle_t *)&r->poll, on_poll_closed);
}

static void release(reader_t *r) {
  if (!r->open) return;
  napi_env env = r->env;
  napi_delete_reference(env, r->on_batch);
  napi_delete_reference(env, r->on_error);
  napi_delete_reference(env, r->data_ref);
  napi_delete_reference(env, r->meta_ref);
  napi_delete_reference(env, r->self);
  napi_async_destroy(env, r->async);
  stop_and_close(r);
}

/* The thread is ending (worker terminated): its loop closes handles itself, the fd goes here. */
static void cleanup_hook(void *arg) {
  reader_t *r = (reader_t *)arg;
  if (r->open) stop_and_close(r);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value self;
  void *data = NULL;
  reader_t *r = NULL;
  /* The wrap goes with the socket, so a second close() finds nothing. */
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) == napi_ok && napi_remove_wrap(env, self, &data) == napi_ok)
    r = (reader_t *)data;
  if (r != NULL && r->open) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, r);
    release(r);
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}

static int get_u32(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static int get_bytes(napi_env env, napi_value obj, const char *name, void **data, size_t *bytes, napi_value *value) {
  napi_typedarray_type type;
  size_t length, offset;
  napi_value buffer;
  if (napi_get_named_property(env, obj, name, value) != napi_ok) return 0;
  if (napi_get_typedarray_info(env, *value, &type, &length, data, &buffer, &offset) != napi_ok) return 0;
  size_t unit = type == napi_uint32_array ? 4 : 1;
  *bytes = length * unit;
  return 1;
}

/*
 * open({ address, port, family, receiveBufferBytes, slots, slotBytes, maxBatches, data, meta,
 *        onBatch, onError }) → { port, receiveBufferBytes, close() }
 * Throws an Error whose code is the errno name (EADDRINUSE, EACCES …) when the socket cannot be
 * made or bound.
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value opts;
  CHECK(env, napi_get_cb_info(env, info, &argc, &opts, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "PTIM_NATIVE", "open(options) needs its options");
    return NULL;
  }
  uint32_t port, family, rcvbuf, slots, slot_bytes, max_batches;
  if (!get_u32(env, opts, "port", &port) || !get_u32(env, opts, "family", &family) ||
      !get_u32(env, opts, "receiveBufferBytes", &rcvbuf) || !get_u32(env, opts, "slots", &slots) ||
      !get_u32(env, opts, "slotBytes", &slot_bytes) || !get_u32(env, opts, "maxBatches", &max_batches) ||
      slots == 0 || slots > MAX_SLOTS || slot_bytes == 0 || max_batches == 0 || port > 65535 ||
      (family != 4 && family != 6)) {
    napi_throw_type_error(env, "PTIM_NATIVE", "open: bad numeric option");
    return NULL;
  }
  char address[64];
  size_t address_len;
  napi_value v;
  CHECK(env, napi_get_named_property(env, opts, "address", &v));
  if (napi_get_value_string_utf8(env, v, address, sizeof address, &address_len) != napi_ok) {
    napi_throw_type_error(env, "PTIM_NATIVE", "open: address must be a string");
    return NULL;
  }
  void *data, *meta;
  size_t data_bytes, meta_bytes;
  napi_value data_v, meta_v, on_batch, on_error;
  if (!get_bytes(env, opts, "data", &data, &data_bytes, &data_v) ||
      !get_bytes(env, opts, "meta", &meta, &meta_bytes, &meta_v) ||
      data_bytes < (size_t)slots * slot_bytes || meta_bytes < (size_t)slots * META_WORDS * 4) {
    napi_throw_type_error(env, "PTIM_NATIVE", "open: data or meta too small");
    return NULL;
  }
  CHECK(env, napi_get_named_property(env, opts, "onBatch", &on_batch));
  CHECK(env, napi_get_named_property(env, opts, "onError", &on_error));

  struct sockaddr_storage ss;
  socklen_t ss_len;
  memset(&ss, 0, sizeof ss);
  if (family == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &a->sin_addr) != 1) return throw_errno(env, "bad IPv4 address", EINVAL);
    ss_len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, address, &a->sin6_addr) != 1) return throw_errno(env, "bad IPv6 address", EINVAL);
    ss_len = sizeof *a;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (family == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "IPV6_V6ONLY", e);
  }
  int size = (int)rcvbuf;
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "SO_RCVBUF", e);
  }
  if (bind(fd, (struct sockaddr *)&ss, ss_len) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  int granted = 0;
  socklen_t granted_len = sizeof granted;
  getsockname(fd, (struct sockaddr *)&bound, &bound_len);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &granted_len);
  uint16_t bound_port = ntohs(family == 4 ? ((struct sockaddr_in *)&bound)->sin_port : ((struct sockaddr_in6 *)&bound)->sin6_port);

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    napi_throw_error(env, "PTIM_NATIVE", "no event loop");
    return NULL;
  }
  reader_t *r = calloc(1, sizeof *r);
  if (r != NULL) {
    r->msgs = calloc(slots, sizeof *r->msgs);
    r->iov = calloc(slots, sizeof *r->iov);
    r->addrs = calloc(slots, sizeof *r->addrs);
  }
  if (r == NULL || r->msgs == NULL || r->iov == NULL || r->addrs == NULL) {
    close(fd);
    if (r) free_reader(r);
    return throw_errno(env, "allocate", ENOMEM);
  }
  r->env = env;
  r->fd = fd;
  r->slots = slots;
  r->slot_bytes = slot_bytes;
  r->max_batches = max_batches;
  r->data = data;
  r->meta = meta;
  init_headers(r);
  int rc = uv_poll_init(loop, &r->poll, fd);
  if (rc < 0) {
    close(fd);
    free_reader(r);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  r->poll.data = r;

  napi_value out, fn, name;
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_wrap(env, out, r, NULL, NULL, NULL));
  CHECK(env, napi_create_reference(env, out, 1, &r->self));
  CHECK(env, napi_create_reference(env, on_batch, 1, &r->on_batch));
  CHECK(env, napi_create_reference(env, on_error, 1, &r->on_error));
  CHECK(env, napi_create_reference(env, data_v, 1, &r->data_ref));
  CHECK(env, napi_create_reference(env, meta_v, 1, &r->meta_ref));
  CHECK(env, napi_create_string_utf8(env, "ptim:udp-recvmmsg", NAPI_AUTO_LENGTH, &name));
  CHECK(env, napi_async_init(env, NULL, name, &r->async));
  CHECK(env, napi_create_function(env, "close", NAPI_AUTO_LENGTH, js_close, NULL, &fn));
  CHECK(env, napi_set_named_property(env, out, "close", fn));
  CHECK(env, napi_create_uint32(env, bound_port, &v));
  CHECK(env, napi_set_named_property(env, out, "port", v));
  CHECK(env, napi_create_uint32(env, (uint32_t)granted, &v));
  CHECK(env, napi_set_named_property(env, out, "receiveBufferBytes", v));
  r->open = 1;
  napi_add_env_cleanup_hook(env, cleanup_hook, r);
  rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (rc < 0) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, r);
    release(r);
    return throw_errno(env, "uv_poll_start", -rc);
  }
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn, v;
  CHECK(env, napi_create_function(env, "open", NAPI_AUTO_LENGTH, js_open, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "open", fn));
  CHECK(env, napi_create_uint32(env, META_WORDS, &v));
  CHECK(env, napi_set_named_property(env, exports, "metaWords", v));
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
