#!/usr/bin/env bash
# Small real backends for the reference topology: in namespace sw-servers, one nginx per real
# server address (198.18.1.10, .11, .12 port 80, named rs1, rs2, rs3; `stop-server rs2` and
# `start-server rs2` stop and start one alone):
#
#   /        `rsN <client address>`, on connections kept alive for 100000 requests
#   /sid     the same, and `Set-Cookie: SID=<random hex>; Path=/` when the request has no
#            SID cookie (a server-made session cookie, for learned-cookie persistence)
#   /big     a 100 MiB file of random bytes, the same on every server: $dir/big, made once
#            and kept between runs (compare with `sha256sum /tmp/stickwire-backends/big`)
#   /upload  a POST of up to 20 MiB, answered `rsN <sha256 hex of the body>`: nginx hands
#            it to a small python3 server on 127.0.0.1:8099 in sw-servers that hashes it
#
# and a server on the VIP for direct server return (`dsr <client address>`).
# `start` stops the Tomcat nodes of scripts/tomcat.sh first (both use port 80).
# Usage: scripts/backends.sh start|stop|stop-server NAME|start-server NAME   (after netns.sh up)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=/tmp/stickwire-backends
upload_port=8099

start() {
    scripts/tomcat.sh stop
    stop
    mkdir -p "$dir"
    if [ "$(stat -c %s "$dir/big" 2>/dev/null)" != 104857600 ]; then
        head -c 100M /dev/urandom >"$dir/big.tmp"
        mv "$dir/big.tmp" "$dir/big"
    fi
    upload_server
    # The VIP may not be on the servers yet (only the DSR test puts it there).
    ip netns exec sw-servers sysctl -qw net.ipv4.ip_nonlocal_bind=1
    for name in rs1 rs2 rs3 dsr; do
        conf "$name" >"$dir/$name.conf"
        start_server "$name"
    done
}

# One nginx per real server, so that one can be stopped alone (health-check tests).
start_server() {
    ip netns exec sw-servers nginx -c "$dir/$1.conf"
}

stop_server() {
    stop_pid "$dir/$1.pid" nginx
}

# The nginx config of one real server (rs1..rs3), or of the DSR server on the VIP.
conf() {
    local name=$1
    cat <<CONF
worker_processes 1;
pid $dir/$name.pid;
error_log $dir/$name-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    sendfile on;
    client_max_body_size 20m;
    client_body_temp_path $dir/body-$name;
    proxy_temp_path $dir/proxy-$name;
    fastcgi_temp_path $dir/fastcgi-$name;
    uwsgi_temp_path $dir/uwsgi-$name;
    scgi_temp_path $dir/scgi-$name;
    # A new session cookie for a request that has none (an empty header is not sent).
    map \$cookie_SID \$new_sid_cookie { "" "SID=\$request_id; Path=/"; default ""; }
CONF
    if [ "$name" = dsr ]; then
        cat <<CONF
    # For direct server return: the VIP, held on the servers' loopback by the DSR test.
    server { listen 198.18.0.101:80; location / { default_type text/plain; return 200 "dsr \$remote_addr\n"; } }
}
CONF
        return
    fi
    local n=${name#rs}
    cat <<CONF
    server {
        listen 198.18.1.$((9 + n)):80;
        default_type text/plain;
        location / { return 200 "rs$n \$remote_addr\n"; }
        location = /sid { add_header Set-Cookie \$new_sid_cookie; return 200 "rs$n \$remote_addr\n"; }
        location = /big { root $dir; default_type application/octet-stream; }
        location = /upload {
            limit_except POST { deny all; }
            proxy_set_header X-Server rs$n;
            proxy_pass http://127.0.0.1:$upload_port;
        }
    }
}
CONF
}

# The hashing server behind /upload: standard library only, a thread per request.
upload_server() {
    cat >"$dir/upload.py" <<'PY'
import hashlib, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Hash(BaseHTTPRequestHandler):
    def do_POST(self):
        length = self.headers.get("Content-Length")
        if length is None:
            self.send_error(411)
            return
        left, digest = int(length), hashlib.sha256()
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
        body = f"{self.headers.get('X-Server', '-')} {digest.hexdigest()}\n".encode()
        self.send_response(200 if left == 0 else 400)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Hash).serve_forever()
PY
    # ip netns exec execs python, so $! is the server.
    ip netns exec sw-servers /usr/bin/python3 "$dir/upload.py" 127.0.0.1 "$upload_port" \
        </dev/null >"$dir/upload.log" 2>&1 &
    echo $! >"$dir/upload.pid"
    for _ in $(seq 100); do
        ip netns exec sw-servers curl -s -o /dev/null -X POST --data '' "http://127.0.0.1:$upload_port/" && return
        alive "$(cat "$dir/upload.pid")" || break
        sleep 0.05
    done
    echo "backends.sh: the upload server did not start:" >&2
    cat "$dir/upload.log" >&2
    exit 1
}

# Whether a process runs (a zombie does not).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# Stops a process by its pid file if its command line has `what`, and waits (up to 5 s)
# until it is gone, so that its ports are free when this returns.
stop_pid() {
    local file=$1 what=$2 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    rm -f "$file"
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$what" || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do alive "$pid" || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

stop() {
    stop_pid "$dir/nginx.pid" nginx # an older layout's single nginx
    for name in rs1 rs2 rs3 dsr; do stop_server "$name"; done
    stop_pid "$dir/upload.pid" upload.py
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    # One real server's nginx alone: `stop-server rs1`, `start-server rs1`.
    stop-server) stop_server "$2" ;;
    start-server) start_server "$2" ;;
    *) echo "usage: $0 start|stop|stop-server NAME|start-server NAME" >&2; exit 2 ;;
esac
