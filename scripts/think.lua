-- wrk: each connection waits THINK_MS milliseconds after each response before its next
-- request, as a user reads a page (scripts/compare-haproxy.sh THINK_MS=...). The load
-- offered is then about CONNECTIONS / (THINK_MS + latency) requests a second, the same for
-- every system that answers in well under THINK_MS, instead of each system's own capacity.
local think = tonumber(os.getenv("THINK_MS") or "0")

function delay()
    return think
end
