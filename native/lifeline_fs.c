/*
 * The few Linux file system calls that Node does not expose and that a block
 * device server cannot do without:
 *
 *   fallocate(PUNCH_HOLE)  so that TRIM and WRITE_ZEROES give space back;
 *   fallocate(ZERO_RANGE)  so that WRITE_ZEROES with NO_HOLE is cheap;
 *   lseek(SEEK_DATA/HOLE)  so that BLOCK_STATUS tells holes from data truthfully;
 *   sendfile               so that a big READ goes from the page cache to the
 *                          socket without passing through our memory;
 *   splice                 so that a big WRITE's data goes from the socket to
 *                          the file the same way.
 *
 * Each runs on the libuv thread pool (these calls can take milliseconds on a
 * large range, and the event loop serves every client) and settles a promise.
 * Errors carry the errno name in `code`, as Node's own fs errors do, so that
 * callers can tell "not supported here" (EOPNOTSUPP) from a real failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>
#include "crc32c.h"

enum op { OP_PUNCH, OP_ZERO, OP_SEEK_DATA, OP_SEEK_HOLE, OP_SEEK_END, OP_SEND_RANGE, OP_DRAIN_PIPE };

/* Longest reply header sent before a range (a structured OFFSET_DATA chunk's is 32 bytes). */
#define MAX_HEADER_BYTES 64
/* send_range's answer when the range holds a hole and the caller asked to hear of it. */
#define HAS_HOLE -2

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  enum op op;
  int fd;
  int64_t offset;
  int64_t length;
  int64_t result;
  int err;
  /* OP_SEND_RANGE: our own duplicate of the socket, the header, whether to refuse ranges with holes. OP_DRAIN_PIPE: the pipe. */
  int sock;
  int check_holes;
  size_t header_len;
  char header[MAX_HEADER_BYTES];
} call_t;

/*
 * Sends the header, then the file's bytes at [offset, offset+length), to a
 * non-blocking socket, as far as it takes them without waiting: a client that
 * does not read its replies never holds a thread-pool thread. The result is
 * how many bytes went (header included); the caller sends the rest its usual
 * way, after them. It never fails: a failure (the client gone, the file
 * unreadable) stops it, and the caller meets it again on its usual way. A disk
 * read of pages not in the cache does block, here on the pool, like any read.
 */
static void send_range(call_t *c) {
  if (c->check_holes) {
    off_t hole = lseek(c->fd, c->offset, SEEK_HOLE);
    if (hole >= 0 && hole < c->offset + c->length) {
      c->result = HAS_HOLE;
      return;
    }
  }
  size_t sent = 0;
  while (sent < c->header_len) {
    ssize_t n = send(c->sock, c->header + sent, c->header_len - sent, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break; /* EAGAIN, or the socket failed: the caller sends the rest its usual way, and sees why */
    sent += (size_t)n;
  }
  while (sent >= c->header_len && sent < c->header_len + (size_t)c->length) {
    off_t at = c->offset + (off_t)(sent - c->header_len);
    ssize_t n = sendfile(c->sock, c->fd, &at, c->header_len + (size_t)c->length - sent);
    if (n < 0 && errno == EINTR) continue;
    /* EAGAIN, a failure (the caller's own read or send of the rest meets it again), or 0: the file ended early */
    if (n <= 0) break;
    sent += (size_t)n;
  }
  c->result = (int64_t)sent;
}

/*
 * Writes `length` bytes held in a pipe (put there by spliceNowait) to the file
 * at `offset`: the one copy of a big WRITE's data, on the pool. Here c->sock
 * is the pipe's read end, which the caller owns.
 */
static void drain_pipe(call_t *c) {
  int64_t done = 0;
  while (done < c->length) {
    loff_t at = c->offset + done;
    ssize_t n = splice(c->sock, NULL, c->fd, &at, (size_t)(c->length - done), SPLICE_F_MOVE);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      c->err = n < 0 ? errno : EIO;
      break;
    }
    done += n;
  }
  c->result = done;
}

static void execute(napi_env env, void *data) {
  call_t *c = data;
  (void)env;
  c->err = 0;
  switch (c->op) {
  case OP_PUNCH:
    if (fallocate(c->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, c->offset, c->length) != 0)
      c->err = errno;
    break;
  case OP_ZERO:
    if (fallocate(c->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, c->offset, c->length) != 0)
      c->err = errno;
    break;
  case OP_SEEK_DATA:
  case OP_SEEK_HOLE: {
    off_t r = lseek(c->fd, c->offset, c->op == OP_SEEK_DATA ? SEEK_DATA : SEEK_HOLE);
    if (r < 0) {
      /* ENXIO: no data (or hole) at or after offset; the caller maps it to the end. */
      if (errno == ENXIO) c->result = -1;
      else c->err = errno;
    } else {
      c->result = r;
    }
    break;
  }
  case OP_SEEK_END: {
    /* The size of a block device: fstat reports 0 for them. */
    off_t r = lseek(c->fd, 0, SEEK_END);
    if (r < 0) c->err = errno;
    else c->result = r;
    break;
  }
  case OP_SEND_RANGE:
    send_range(c);
    break;
  case OP_DRAIN_PIPE:
    drain_pipe(c);
    break;
  }
}

static const char *errno_code(int err) {
  switch (err) {
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case EBADF: return "EBADF";
  case EINVAL: return "EINVAL";
  case EIO: return "EIO";
  case ENOSPC: return "ENOSPC";
  case EFBIG: return "EFBIG";
  case ENODEV: return "ENODEV";
  case ESPIPE: return "ESPIPE";
  case EPERM: return "EPERM";
  case EROFS: return "EROFS";
  case EINTR: return "EINTR";
  case EPIPE: return "EPIPE";
  case ECONNRESET: return "ECONNRESET";
  default: return "EUNKNOWN";
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  call_t *c = data;
  napi_value value;
  if (status == napi_ok && c->err == 0) {
    napi_create_double(env, (double)c->result, &value);
    napi_resolve_deferred(env, c->deferred, value);
  } else {
    int err = c->err ? c->err : EINTR;
    napi_value msg, code, errno_value;
    napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &value);
    napi_create_int32(env, -err, &errno_value);
    napi_set_named_property(env, value, "errno", errno_value);
    napi_reject_deferred(env, c->deferred, value);
  }
  napi_delete_async_work(env, c->work);
  if (c->op == OP_SEND_RANGE) close(c->sock);
  free(c);
}

/* A call record, or NULL with a JS error thrown. */
static call_t *new_call(napi_env env, enum op op) {
  call_t *c = calloc(1, sizeof *c);
  if (!c) napi_throw_error(env, "ENOMEM", "out of memory");
  else c->op = op;
  return c;
}

/* Runs the call on the thread pool; its promise. */
static napi_value queue_call(napi_env env, call_t *c) {
  napi_value promise, name;
  napi_create_promise(env, &c->deferred, &promise);
  napi_create_string_utf8(env, "lifeline_fs", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, c, &c->work);
  napi_queue_async_work(env, c->work);
  return promise;
}

static napi_value start(napi_env env, napi_callback_info info, enum op op, size_t nargs) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < nargs) {
    napi_throw_type_error(env, NULL, "wrong number of arguments");
    return NULL;
  }
  call_t *c = new_call(env, op);
  if (!c) return NULL;
  double offset = 0, length = 0;
  if (napi_get_value_int32(env, argv[0], &c->fd) != napi_ok ||
      (nargs > 1 && napi_get_value_double(env, argv[1], &offset) != napi_ok) ||
      (nargs > 2 && napi_get_value_double(env, argv[2], &length) != napi_ok)) {
    free(c);
    napi_throw_type_error(env, NULL, "fd, offset and length must be numbers");
    return NULL;
  }
  c->offset = (int64_t)offset;
  c->length = (int64_t)length;
  return queue_call(env, c);
}

static napi_value punch_hole(napi_env env, napi_callback_info info) { return start(env, info, OP_PUNCH, 3); }
static napi_value zero_range(napi_env env, napi_callback_info info) { return start(env, info, OP_ZERO, 3); }
static napi_value seek_data(napi_env env, napi_callback_info info) { return start(env, info, OP_SEEK_DATA, 2); }
static napi_value seek_hole(napi_env env, napi_callback_info info) { return start(env, info, OP_SEEK_HOLE, 2); }

static napi_value seek_end(napi_env env, napi_callback_info info) { return start(env, info, OP_SEEK_END, 1); }

/*
 * sendRange(socketFd, fileFd, header, offset, length, checkHoles): see
 * send_range. The socket is duplicated here, on the event loop, while it is
 * surely open: if the connection is closed meanwhile, the pool thread writes
 * to our duplicate (and fails), never to whatever reuses the number.
 */
static napi_value send_range_start(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  int sock, fd;
  void *header;
  size_t header_len;
  double offset, length;
  bool check_holes;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 ||
      napi_get_value_int32(env, argv[0], &sock) != napi_ok ||
      napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &header, &header_len) != napi_ok ||
      napi_get_value_double(env, argv[3], &offset) != napi_ok ||
      napi_get_value_double(env, argv[4], &length) != napi_ok ||
      napi_get_value_bool(env, argv[5], &check_holes) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (socketFd, fileFd, header, offset, length, checkHoles)");
    return NULL;
  }
  if (header_len > MAX_HEADER_BYTES || offset < 0 || length < 0) {
    napi_throw_range_error(env, NULL, "header too long, or a negative range");
    return NULL;
  }
  call_t *c = new_call(env, OP_SEND_RANGE);
  if (!c) return NULL;
  c->sock = fcntl(sock, F_DUPFD_CLOEXEC, 0);
  if (c->sock < 0) {
    int err = errno;
    free(c);
    napi_throw_error(env, errno_code(err), strerror(err));
    return NULL;
  }
  c->fd = fd;
  c->offset = (int64_t)offset;
  c->length = (int64_t)length;
  c->check_holes = check_holes;
  c->header_len = header_len;
  memcpy(c->header, header, header_len);
  return queue_call(env, c);
}

/*
 * Big WRITEs, without reading their data into memory: the event loop moves it
 * from the socket into a pipe (spliceNowait: page references, no copy), and
 * the pool writes it from the pipe to the file (drainPipe: the one copy).
 *
 * makePipe(capacity) -> [readFd, writeFd, capacity granted].
 */
static napi_value make_pipe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, v;
  int32_t want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &want) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (capacity)");
    return NULL;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    napi_throw_error(env, errno_code(errno), strerror(errno));
    return NULL;
  }
  int got = fcntl(fds[1], F_SETPIPE_SZ, want);
  if (got < 0) got = fcntl(fds[1], F_GETPIPE_SZ);
  napi_create_array_with_length(env, 3, &result);
  napi_create_int32(env, fds[0], &v);
  napi_set_element(env, result, 0, v);
  napi_create_int32(env, fds[1], &v);
  napi_set_element(env, result, 1, v);
  napi_create_int32(env, got, &v);
  napi_set_element(env, result, 2, v);
  return result;
}

/* spliceNowait(socketFd, pipeWriteFd, length): bytes moved that had arrived, or -errno (-EAGAIN: none yet). */
static napi_value splice_nowait(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  int sock, pipe_w;
  double length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &sock) != napi_ok ||
      napi_get_value_int32(env, argv[1], &pipe_w) != napi_ok ||
      napi_get_value_double(env, argv[2], &length) != napi_ok || length < 0) {
    napi_throw_type_error(env, NULL, "expected (socketFd, pipeWriteFd, length)");
    return NULL;
  }
  size_t done = 0;
  while (done < (size_t)length) {
    ssize_t n = splice(sock, NULL, pipe_w, NULL, (size_t)length - done, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (done == 0 && n < 0) done = (size_t)-1;
      break;
    }
    done += (size_t)n;
  }
  napi_create_double(env, done == (size_t)-1 ? (double)-errno : (double)done, &result);
  return result;
}

/*
 * spliceWhenArrived(socketFd, pipeWriteFd, length, callback) -> watchFd.
 *
 * The rest of a WRITE's data, when only part of it had arrived as its header
 * was read (a third of 1 MiB writes on loopback): rather than read the rest
 * into memory, the event loop watches the socket with SO_RCVLOWAT set to
 * what is missing, so that it wakes once, when all of it is there, and
 * splices it into the pipe. The caller has stopped reading the socket
 * meanwhile. The watch uses a duplicate of the socket, so that it outlives a
 * close of the original; stopWaiting(watchFd) ends it at once. callback(bytes
 * moved) runs once: all of them, or fewer (the caller reads the rest as
 * usual, and sees why) if the client hung up, the socket failed, the wait was
 * stopped, or the pipe is full: a pipe holds 16 pages or more *pieces*, and
 * from a real network each piece is one packet (about 1448 bytes), so a
 * 1 MiB pipe may fill at a third of a MiB. A wake that finds data (the
 * low-water mark was met) but moves nothing is that; waiting on would spin.
 */
typedef struct wait_s {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  int sock;
  int pipe_w;
  size_t want;
  size_t moved;
  struct wait_s *next;
} wait_t;

/* The waits in progress, for stopWaiting; only the event loop's thread touches them. */
static __thread wait_t *waits;

static void set_lowat(int sock, size_t bytes) {
  int v = bytes > (1 << 30) ? (1 << 30) : (int)(bytes < 1 ? 1 : bytes);
  setsockopt(sock, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v);
}

static void wait_closed(uv_handle_t *h) {
  wait_t *w = (wait_t *)h;
  close(w->sock);
  free(w);
}

/* Ends a wait: its callback runs with the bytes moved, from libuv's poll or from JS (stopWaiting). */
static void finish_wait(wait_t *w, int from_js) {
  for (wait_t **p = &waits; *p; p = &(*p)->next) {
    if (*p == w) {
      *p = w->next;
      break;
    }
  }
  uv_poll_stop(&w->poll);
  set_lowat(w->sock, 1);
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, global, arg, ignored;
  napi_get_reference_value(env, w->callback, &cb);
  napi_get_global(env, &global);
  napi_create_double(env, (double)w->moved, &arg);
  napi_delete_reference(env, w->callback);
  uv_close((uv_handle_t *)&w->poll, wait_closed);
  if (from_js) napi_call_function(env, global, cb, 1, &arg, &ignored);
  else napi_make_callback(env, NULL, global, cb, 1, &arg, &ignored);
  napi_close_handle_scope(env, scope);
}

static void wait_ready(uv_poll_t *poll, int status, int events) {
  wait_t *w = (wait_t *)poll;
  (void)events;
  int finished = status < 0;
  size_t before = w->moved;
  while (!finished && w->moved < w->want) {
    ssize_t n = splice(w->sock, NULL, w->pipe_w, NULL, w->want - w->moved, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      finished = w->moved == before; /* woken with data there, and none would go: the pipe is full */
      break;
    }
    if (n <= 0) finished = 1; /* hung up, or failed */
    else w->moved += (size_t)n;
  }
  if (!finished && w->moved < w->want) {
    /* Woken early (the low-water mark is capped): wait for the rest. */
    set_lowat(w->sock, w->want - w->moved);
    return;
  }
  finish_wait(w, 0);
}

static napi_value splice_when_arrived(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  int sock, pipe_w;
  double length;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[0], &sock) != napi_ok ||
      napi_get_value_int32(env, argv[1], &pipe_w) != napi_ok ||
      napi_get_value_double(env, argv[2], &length) != napi_ok || length <= 0 ||
      napi_typeof(env, argv[3], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, "expected (socketFd, pipeWriteFd, length, callback)");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, "EUNKNOWN", "no event loop");
    return NULL;
  }
  wait_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  w->sock = fcntl(sock, F_DUPFD_CLOEXEC, 0);
  if (w->sock < 0) {
    int err = errno;
    free(w);
    napi_throw_error(env, errno_code(err), strerror(err));
    return NULL;
  }
  int err = uv_poll_init(loop, &w->poll, w->sock);
  if (err != 0) {
    close(w->sock);
    free(w);
    napi_throw_error(env, "EUNKNOWN", uv_strerror(err));
    return NULL;
  }
  w->env = env;
  w->pipe_w = pipe_w;
  w->want = (size_t)length;
  set_lowat(w->sock, w->want);
  err = uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, wait_ready);
  if (err != 0) {
    uv_close((uv_handle_t *)&w->poll, wait_closed);
    napi_throw_error(env, "EUNKNOWN", uv_strerror(err));
    return NULL;
  }
  napi_create_reference(env, argv[3], 1, &w->callback);
  w->next = waits;
  waits = w;
  napi_create_int32(env, w->sock, &result);
  return result;
}

/* stopWaiting(watchFd): ends a spliceWhenArrived wait now; its callback runs before this returns. */
static napi_value stop_waiting(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (watchFd)");
    return NULL;
  }
  for (wait_t *w = waits; w; w = w->next) {
    if (w->sock == fd && w->env == env) {
      finish_wait(w, 1);
      break;
    }
  }
  return NULL;
}

/* drainPipe(pipeReadFd, fileFd, offset, length): see drain_pipe. */
static napi_value drain_pipe_start(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int pipe_r, fd;
  double offset, length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[0], &pipe_r) != napi_ok ||
      napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_value_double(env, argv[2], &offset) != napi_ok ||
      napi_get_value_double(env, argv[3], &length) != napi_ok || offset < 0 || length < 0) {
    napi_throw_type_error(env, NULL, "expected (pipeReadFd, fileFd, offset, length)");
    return NULL;
  }
  call_t *c = new_call(env, OP_DRAIN_PIPE);
  if (!c) return NULL;
  c->sock = pipe_r;
  c->fd = fd;
  c->offset = (int64_t)offset;
  c->length = (int64_t)length;
  return queue_call(env, c);
}

/*
 * pread/pwrite with RWF_NOWAIT, on the calling (event loop) thread. They do the
 * I/O only when it cannot block: data already in the page cache, room for dirty
 * pages. Then they cost a memcpy, where the thread pool costs two thread hops
 * (~30-50 us each way on these machines, the bulk of a 4 KiB request's
 * latency). When they would block they return -EAGAIN at once and the caller
 * goes through the thread pool. Returns bytes done (maybe fewer than asked), or
 * -errno.
 */
static napi_value rw_nowait(napi_env env, napi_callback_info info, int writing) {
  size_t argc = 5;
  napi_value argv[5], result;
  void *data;
  size_t data_len;
  int fd;
  double buf_off, length, position;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &data, &data_len) != napi_ok ||
      napi_get_value_double(env, argv[2], &buf_off) != napi_ok ||
      napi_get_value_double(env, argv[3], &length) != napi_ok ||
      napi_get_value_double(env, argv[4], &position) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected (fd, buffer, bufferOffset, length, position)");
    return NULL;
  }
  if (buf_off < 0 || length < 0 || buf_off + length > (double)data_len) {
    napi_throw_range_error(env, NULL, "range outside the buffer");
    return NULL;
  }
  struct iovec iov = { (char *)data + (size_t)buf_off, (size_t)length };
  ssize_t n = writing ? pwritev2(fd, &iov, 1, (off_t)position, RWF_NOWAIT)
                      : preadv2(fd, &iov, 1, (off_t)position, RWF_NOWAIT);
  napi_create_double(env, n < 0 ? (double)-errno : (double)n, &result);
  return result;
}

static napi_value pread_nowait(napi_env env, napi_callback_info info) { return rw_nowait(env, info, 0); }
static napi_value pwrite_nowait(napi_env env, napi_callback_info info) { return rw_nowait(env, info, 1); }

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"punchHole", NULL, punch_hole, NULL, NULL, NULL, napi_default, NULL},
    {"zeroRange", NULL, zero_range, NULL, NULL, NULL, napi_default, NULL},
    {"seekData", NULL, seek_data, NULL, NULL, NULL, napi_default, NULL},
    {"seekHole", NULL, seek_hole, NULL, NULL, NULL, napi_default, NULL},
    {"seekEnd", NULL, seek_end, NULL, NULL, NULL, napi_default, NULL},
    {"preadNowait", NULL, pread_nowait, NULL, NULL, NULL, napi_default, NULL},
    {"pwriteNowait", NULL, pwrite_nowait, NULL, NULL, NULL, napi_default, NULL},
    {"sendRange", NULL, send_range_start, NULL, NULL, NULL, napi_default, NULL},
    {"makePipe", NULL, make_pipe, NULL, NULL, NULL, napi_default, NULL},
    {"spliceNowait", NULL, splice_nowait, NULL, NULL, NULL, napi_default, NULL},
    {"drainPipe", NULL, drain_pipe_start, NULL, NULL, NULL, napi_default, NULL},
    {"spliceWhenArrived", NULL, splice_when_arrived, NULL, NULL, NULL, napi_default, NULL},
    {"stopWaiting", NULL, stop_waiting, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  crc32c_define(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
