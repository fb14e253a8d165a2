#!/usr/bin/env bash
# Small real backends for the reference topology: one nginx in namespace sw-servers with a
# server on each real server address (198.18.1.10, .11, .12 port 80) that answers with its
# name (rs1, rs2, rs3) and the client address it saw.
# Usage: scripts/backends.sh start|stop   (after scripts/netns.sh up)
set -euo pipefail
dir=/tmp/stickwire-backends

start() {
    stop
    mkdir -p "$dir"
    cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server { listen 198.18.1.10:80; location / { default_type text/plain; return 200 "rs1 \$remote_addr\n"; } }
    server { listen 198.18.1.11:80; location / { default_type text/plain; return 200 "rs2 \$remote_addr\n"; } }
    server { listen 198.18.1.12:80; location / { default_type text/plain; return 200 "rs3 \$remote_addr\n"; } }
    # For direct server return: the VIP, held on the servers' loopback by the DSR test.
    server { listen 198.18.0.100:80; location / { default_type text/plain; return 200 "dsr \$remote_addr\n"; } }
}
CONF
    # The VIP may not be on the servers yet (only the DSR test puts it there).
    ip netns exec sw-servers sysctl -qw net.ipv4.ip_nonlocal_bind=1
    ip netns exec sw-servers nginx -c "$dir/nginx.conf"
}

stop() {
    if [ -f "$dir/nginx.pid" ]; then
        kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
        rm -f "$dir/nginx.pid"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
