-- A shared counter: every client of "counter:<name>" sees one count; "increment" adds to it, and each
-- client gets the count pushed every second by a timer (and at once when it changes).
--
-- Client → server:  join "counter:main";  push "increment" {} (or {by = 5}; 1 to 100)
-- Server → client:  "count" {count = n}   (on every change, and every second from the timer)
--
-- Where does the count live? In phx.kv, the node's key-value store: one store shared by every Lua VM
-- of the server (one VM per event loop, and two clients of one counter may be on different loops),
-- and phx.kv.incr is atomic, so no increment is lost however many clients press at once. Without
-- --redis the store is in the server's memory and the count starts again from 0 after a restart;
-- with --redis it lives in Redis and is shared by every node.
local channel = { topic = "counter:*" }

local TICK_MS = 1000

local function key(socket) return "count:" .. socket.topic end

local function current(socket)
  return phx.kv.get(key(socket)) or 0
end

function channel.join(topic, payload, socket)
  phx.send_after(socket, TICK_MS, "tick")
  return phx.ok({ count = current(socket) })
end

function channel.handle_in(event, payload, socket)
  if event == "increment" then
    local by = payload.by or 1
    if math.type(by) ~= "integer" or by < 1 or by > 100 then
      return phx.error({ reason = "by must be an integer from 1 to 100" })
    end
    local count, err = phx.kv.incr(key(socket), by)
    if not count then return phx.error({ reason = err }) end
    -- Everyone (the sender too) gets the new count. Broadcasts from two loops may cross on the way,
    -- and counts only grow: a page shows the largest it has seen, and the timer below agrees anyway.
    phx.broadcast(socket, "count", { count = count })
    return phx.ok({ count = count })
  end
  return phx.error({ reason = "unknown event " .. event })
end

function channel.handle_info(msg, socket)
  if msg == "tick" then
    phx.push(socket, "count", { count = current(socket) })
    phx.send_after(socket, TICK_MS, "tick")  -- send_after fires once: schedule the next tick
  end
  return phx.noreply()
end

return channel
