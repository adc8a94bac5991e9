// The receiving end of an OCI runtime's --console-socket: the runtime sends the
// master of the container's terminal over a unix socket (SCM_RIGHTS), which
// Node cannot receive. With the master held by the engine, a container's last
// output is read even after the runtime exits (crun's own copy loop returns at
// the container's exit and drops what is still unread). Node-API only, so one
// build loads in any Node of the same CPU.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return NULL;                                                            \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// A path longer than sun_path is reached through its directory's /proc/self/fd entry.
static int bind_path(int fd, const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) < sizeof addr.sun_path) {
    strcpy(addr.sun_path, path);
    return bind(fd, (struct sockaddr *)&addr, sizeof addr);
  }
  const char *slash = strrchr(path, '/');
  if (!slash || strlen(slash) > 64) {
    errno = ENAMETOOLONG;
    return -1;
  }
  char dir[4096];
  size_t dir_len = (size_t)(slash - path);
  if (dir_len == 0 || dir_len >= sizeof dir) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(dir, path, dir_len);
  dir[dir_len] = 0;
  int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) return -1;
  snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d%s", dirfd, slash);
  int r = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  int saved = errno;
  close(dirfd);
  errno = saved;
  return r;
}

// listen(path): a listening socket at path; its fd.
static napi_value Listen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t len;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok ||
      len >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "listen(path): a path is required");
    return NULL;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (bind_path(fd, path) < 0 || listen(fd, 1) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, path, err);
  }
  napi_value result;
  CHECK(napi_create_int32(env, fd, &result));
  return result;
}

typedef struct {
  int listen_fd;
  int timeout_ms;
  int received_fd;
  int write_fd;
  int err;
  const char *what;
  napi_deferred deferred;
  napi_async_work work;
} receive_t;

// On a threadpool thread: the first connection's first message and its fd.
// An empty connection (the engine's own, once the runtime exited) ends the wait.
static void receive_execute(napi_env env, void *data) {
  (void)env;
  receive_t *r = data;
  r->received_fd = -1;
  struct pollfd pfd = {.fd = r->listen_fd, .events = POLLIN};
  int n;
  do n = poll(&pfd, 1, r->timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n <= 0) {
    r->err = n == 0 ? ETIMEDOUT : errno;
    r->what = "waiting for the runtime's console";
    goto out;
  }
  int conn;
  do conn = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  while (conn < 0 && errno == EINTR);
  if (conn < 0) {
    r->err = errno;
    r->what = "accept";
    goto out;
  }
  char byte[512];
  struct iovec iov = {.iov_base = byte, .iov_len = sizeof byte};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  ssize_t got;
  do got = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  while (got < 0 && errno == EINTR);
  if (got < 0) {
    r->err = errno;
    r->what = "recvmsg";
  } else {
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int))) {
      memcpy(&r->received_fd, CMSG_DATA(c), sizeof(int));
      // Node's event loop reads it: it must never block.
      int flags = fcntl(r->received_fd, F_GETFL);
      if (flags >= 0) fcntl(r->received_fd, F_SETFL, flags | O_NONBLOCK);
      // A second fd for input and resizes, closed by its user alone (Node's reader
      // closes the first whenever it ends: a number then free for reuse).
      r->write_fd = fcntl(r->received_fd, F_DUPFD_CLOEXEC, 0);
      if (r->write_fd < 0) {
        r->err = errno;
        r->what = "dup";
        close(r->received_fd);
        r->received_fd = -1;
      }
    } else {
      r->err = ENOMSG;
      r->what = "the runtime sent no console";
    }
  }
  close(conn);
out:
  close(r->listen_fd);
}

static void receive_complete(napi_env env, napi_status status, void *data) {
  receive_t *r = data;
  napi_value value;
  if (status == napi_ok && r->received_fd >= 0) {
    napi_value fd, write_fd;
    napi_create_array_with_length(env, 2, &value);
    napi_create_int32(env, r->received_fd, &fd);
    napi_create_int32(env, r->write_fd, &write_fd);
    napi_set_element(env, value, 0, fd);
    napi_set_element(env, value, 1, write_fd);
    napi_resolve_deferred(env, r->deferred, value);
  } else {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", r->what ? r->what : "console socket",
             strerror(r->err ? r->err : ECANCELED));
    napi_value text;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, NULL, text, &value);
    napi_reject_deferred(env, r->deferred, value);
  }
  napi_delete_async_work(env, r->work);
  free(r);
}

// receive(listenFd, timeoutMs): a promise of [fd, writeFd], the received terminal
// and a duplicate of it (non-blocking, close-on-exec). The listening fd is closed
// either way.
static napi_value Receive(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, timeout_ms;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, NULL, "receive(listenFd, timeoutMs): two numbers are required");
    return NULL;
  }
  receive_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "receive", ENOMEM);
  r->listen_fd = fd;
  r->timeout_ms = timeout_ms;
  napi_value promise, name;
  CHECK(napi_create_promise(env, &r->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "berth:console-receive", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, receive_execute, receive_complete, r, &r->work));
  CHECK(napi_queue_async_work(env, r->work));
  return promise;
}

// resize(fd, cols, rows): the terminal's size; the kernel signals its foreground process group.
static napi_value Resize(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, cols, rows;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &cols) != napi_ok ||
      napi_get_value_int32(env, argv[2], &rows) != napi_ok || cols <= 0 || rows <= 0 ||
      cols > 65535 || rows > 65535) {
    napi_throw_type_error(env, NULL, "resize(fd, cols, rows): positive sizes are required");
    return NULL;
  }
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) return throw_errno(env, "resize", errno);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"listen", NULL, Listen, NULL, NULL, NULL, napi_default, NULL},
      {"receive", NULL, Receive, NULL, NULL, NULL, napi_default, NULL},
      {"resize", NULL, Resize, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
