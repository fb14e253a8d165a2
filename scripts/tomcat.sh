#!/usr/bin/env bash
# Real application servers for the L7 tests: three Tomcat 10 nodes (Debian's tomcat10) in
# namespace sw-servers, one on each real server address, port 80:
#
#   node1 on 198.18.1.10 (rs1)    node2 on 198.18.1.11 (rs2)    node3 on 198.18.1.12 (rs3)
#
# Each node has its own CATALINA_BASE under /tmp/stickwire-tomcat/nodeN and
# `<Engine jvmRoute="nodeN">`, so the JSESSIONID cookies it sets end in `.nodeN`. The ROOT
# webapp has one JSP, /counter.jsp (also served for /), that counts requests in the HTTP
# session and answers `nodeN count=K` (K after this request).
#
# `start` stops the nginx backends of scripts/backends.sh first (both use port 80), starts
# the three nodes and returns when all three answer (or fails with the tail of their logs).
# `stop` kills them and removes their run state. The webapp, its compiled JSP and a
# class-data archive of Tomcat's classes are kept in /tmp/stickwire-tomcat-cache, so that
# later starts skip that work.
# Usage: scripts/tomcat.sh start|stop   (after scripts/netns.sh up, as root)
set -euo pipefail
cd "$(dirname "$0")/.."
ns=sw-servers
dir=/tmp/stickwire-tomcat
cache=/tmp/stickwire-tomcat-cache
home=/usr/share/tomcat10
timeout=${TOMCAT_START_TIMEOUT:-60}

node_addr() { echo "198.18.1.$((9 + $1))"; }

java_home() {
    # Debian's own choice (default-java, then the newest OpenJDK), as its service does.
    local JAVA_HOME=""
    if [ -r /usr/libexec/tomcat10/tomcat-locate-java.sh ]; then
        . /usr/libexec/tomcat10/tomcat-locate-java.sh
    fi
    if [ -z "$JAVA_HOME" ] && command -v java >/dev/null; then
        JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    fi
    [ -n "$JAVA_HOME" ] || { echo "tomcat.sh: no Java runtime found (scripts/install-deps.sh)" >&2; exit 1; }
    echo "$JAVA_HOME"
}

# The webapp, shared by the three nodes (read only); rewritten only when it changes, so
# that the JSPs compiled into the cache stay valid.
write_if_changed() {
    local file=$1 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if cmp -s "$tmp" "$file"; then rm -f "$tmp"; else mkdir -p "$(dirname "$file")"; mv "$tmp" "$file"; chmod 644 "$file"; fi
}

webapp() {
    local app=$cache/webapp
    write_if_changed "$app/counter.jsp" <<'JSP'
<%@ page contentType="text/plain; charset=UTF-8" session="true" trimDirectiveWhitespaces="true" %><%
    int count;
    synchronized (session) {
        Integer previous = (Integer) session.getAttribute("count");
        count = (previous == null ? 0 : previous) + 1;
        session.setAttribute("count", count);
    }
    out.print(System.getProperty("stickwire.node") + " count=" + count + "\n");
%>
JSP
    write_if_changed "$app/WEB-INF/web.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0" metadata-complete="true">
  <welcome-file-list><welcome-file>counter.jsp</welcome-file></welcome-file-list>
</web-app>
XML
}

# One node's CATALINA_BASE: conf/ only what Tomcat needs, no manager apps, no access log,
# no shutdown port, no jar scanning.
base() {
    local n=$1 base=$dir/node$1 addr
    addr=$(node_addr "$n")
    mkdir -p "$base"/{conf,logs,temp} "$cache/work/node$n"
    cat >"$base/conf/server.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector address="$addr" port="80" protocol="HTTP/1.1" connectionTimeout="20000"
               maxKeepAliveRequests="-1" minSpareThreads="2" />
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="node$n">
      <Host name="localhost" appBase="webapps" autoDeploy="false" deployOnStartup="false">
        <Context path="" docBase="$cache/webapp" workDir="$cache/work/node$n" reloadable="false"
                 containerSciFilter="WsSci">
          <Manager pathname="" />
          <JarScanner scanClassPath="false" scanManifest="false" />
        </Context>
      </Host>
    </Engine>
  </Service>
</Server>
XML
    cat >"$base/conf/web.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0" metadata-complete="true">
  <servlet>
    <servlet-name>default</servlet-name>
    <servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class>
    <load-on-startup>1</load-on-startup>
  </servlet>
  <servlet>
    <servlet-name>jsp</servlet-name>
    <servlet-class>org.apache.jasper.servlet.JspServlet</servlet-class>
    <init-param><param-name>development</param-name><param-value>false</param-value></init-param>
    <load-on-startup>3</load-on-startup>
  </servlet>
  <servlet-mapping><servlet-name>default</servlet-name><url-pattern>/</url-pattern></servlet-mapping>
  <servlet-mapping><servlet-name>jsp</servlet-name><url-pattern>*.jsp</url-pattern></servlet-mapping>
  <session-config><session-timeout>30</session-timeout></session-config>
</web-app>
XML
    cat >"$base/conf/catalina.properties" <<'PROPS'
common.loader="${catalina.home}/lib","${catalina.home}/lib/*.jar"
tomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar
PROPS
    cat >"$base/conf/logging.properties" <<'PROPS'
handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
java.util.logging.ConsoleHandler.level = FINE
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
PROPS
}

start() {
    scripts/backends.sh stop
    stop
    local jh opts cds=()
    jh=$(java_home)
    webapp
    # C1 only and the serial collector: three JVMs start on two cores, and these nodes
    # serve tests, not benchmarks.
    opts="-Xms32m -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData"
    opts="$opts -Dorg.apache.catalina.startup.EXIT_ON_INIT_FAILURE=true"
    # A class-data archive of Tomcat's classes (AppCDS) saves a fifth of each JVM's start.
    # Without a current one, node1 writes one when it stops (that stop takes a few seconds
    # once); the JVM itself ignores, with a warning, an archive that does not match it.
    local jsa
    jsa=$cache/tomcat-$(stat -L -c %s-%Y "$jh/lib/server/libjvm.so" "$home/lib/catalina.jar" | md5sum | cut -c1-12).jsa
    if [ -s "$jsa" ]; then
        cds=("-XX:SharedArchiveFile=$jsa" "-XX:SharedArchiveFile=$jsa" "-XX:SharedArchiveFile=$jsa")
    else
        echo "$jsa" >"$cache/jsa.new"
        cds=("-XX:ArchiveClassesAtExit=$jsa.new" "" "")
    fi
    for n in 1 2 3; do
        base "$n"
        local b=$dir/node$n
        # catalina.sh run execs java, so $! is the JVM.
        ip netns exec "$ns" env JAVA_HOME="$jh" CATALINA_HOME="$home" CATALINA_BASE="$b" \
            CATALINA_TMPDIR="$b/temp" CATALINA_OPTS="$opts ${cds[$((n - 1))]} -Dstickwire.node=node$n" \
            "$home/bin/catalina.sh" run </dev/null >"$b/logs/catalina.out" 2>&1 &
        echo $! >"$b/pid"
    done
    local deadline=$((SECONDS + timeout))
    for n in 1 2 3; do
        local b=$dir/node$n url got=""
        url="http://$(node_addr "$n")/counter.jsp"
        until got=$(ip netns exec "$ns" curl -sS -m 2 "$url" 2>&1) && [ "$got" = "node$n count=1" ]; do
            if ! alive "$(cat "$b/pid")" || [ $SECONDS -ge $deadline ]; then
                if alive "$(cat "$b/pid")"; then
                    echo "tomcat.sh: node$n did not answer on $url within ${timeout}s" >&2
                else
                    echo "tomcat.sh: node$n exited before answering on $url" >&2
                fi
                echo "last answer: ${got:0:300}" >&2
                echo "--- tail of $b/logs/catalina.out" >&2
                tail -n 30 "$b/logs/catalina.out" >&2 || true
                stop
                exit 1
            fi
            sleep 0.1
        done
    done
}

# Whether a process runs (a zombie does not: start's own children when it gives up).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

stop() {
    local pids=() n pid
    for n in 1 2 3; do
        if [ -f "$dir/node$n/pid" ]; then
            pid=$(cat "$dir/node$n/pid")
            # Only that node's JVM, never a process that has taken over a stale pid.
            if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-Dcatalina.base=$dir/node$n "; then
                kill "$pid" 2>/dev/null && pids+=("$pid")
            fi
        fi
    done
    # Wait for them to let go of port 80 (SIGTERM is a clean Tomcat stop; one that writes
    # the class-data archive takes a few seconds), then insist.
    for _ in $(seq 150); do
        local running=()
        for pid in "${pids[@]}"; do alive "$pid" && running+=("$pid"); done
        pids=("${running[@]}")
        [ "${#pids[@]}" -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    # An archive is complete only if its JVM exited by itself.
    if [ -f "$cache/jsa.new" ]; then
        local jsa
        jsa=$(cat "$cache/jsa.new")
        if [ -s "$jsa.new" ] && [ "${#pids[@]}" -eq 0 ]; then mv -f "$jsa.new" "$jsa"; fi
        rm -f "$jsa.new" "$cache/jsa.new"
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
