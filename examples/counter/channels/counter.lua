-- A shared counter: every client of "counter:<name>" sees one count; "increment" adds to it, and each
-- client gets the count pushed every second by a timer (and at once when it changes).
--
-- Client → server:  join "counter:main";  push "increment" {} (or {by = 5}; 1 to 100)
-- Server → client:  "count" {count = n}   (on every change, and every second from the timer)
--
-- Where does the count live?
--
-- Not in a Lua variable: the server runs one Lua VM per event loop (per core), and two clients of the
-- same counter may well be on different loops, so a module-level `count` would be one count per loop.
-- Nor can one client's channel own it: the channels only talk to each other through broadcasts.
--
-- So every channel keeps its own copy, and the copies agree by construction (a "grow-only counter",
-- the simplest CRDT):
--   * each channel has an id, and its copy is a table id → "how much that channel has added";
--     the count is the sum of the table;
--   * an increment bumps the channel's own entry and broadcasts the new value of that entry,
--     {id, total}; a channel receiving it keeps the larger of what it had and what arrived;
--   * a newcomer broadcasts a sync request; each member answers with its whole table, and the
--     newcomer takes the larger value of each entry (so entries of clients who left survive).
-- Taking the larger value ignores duplicates and reordering, and each entry only ever has one writer,
-- so no increment is lost however the broadcasts interleave across loops. Nothing is stored once the
-- last client leaves: the count is as long-lived as the room, which is what an example needs
-- (a real app keeps such state in a database).
local channel = {
  topic = "counter:*",
  -- Channel-to-channel broadcasts: handled by each subscriber's handle_out, never seen by clients.
  intercept = { "added", "sync_request", "sync" },
}

local TICK_MS = 1000

local function new_id()
  return string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

local function count_of(socket)
  local sum = 0
  for _, n in pairs(socket.assigns.totals) do sum = sum + n end
  return sum
end

local function push_count(socket)
  phx.push(socket, "count", { count = count_of(socket) })
end

-- Merges {id = total, ...} into this channel's table; true when anything grew.
local function merge(socket, totals)
  local grew = false
  for id, n in pairs(totals) do
    if math.type(n) == "integer" and n > (socket.assigns.totals[id] or 0) then
      socket.assigns.totals[id] = n
      grew = true
    end
  end
  return grew
end

function channel.join(topic, payload, socket)
  socket.assigns.id = new_id()
  socket.assigns.totals = {}
  phx.send_after(socket, 0, "sync")          -- broadcasts are not allowed in join: right after it
  phx.send_after(socket, TICK_MS, "tick")
  return phx.ok({ count = 0 })               -- the real count follows as a "count" push
end

function channel.handle_in(event, payload, socket)
  if event == "increment" then
    local by = payload.by or 1
    if math.type(by) ~= "integer" or by < 1 or by > 100 then
      return phx.error({ reason = "by must be an integer from 1 to 100" })
    end
    local id = socket.assigns.id
    socket.assigns.totals[id] = (socket.assigns.totals[id] or 0) + by
    phx.broadcast(socket, "added", { id = id, total = socket.assigns.totals[id] })
    return phx.ok({ count = count_of(socket) })
  end
  return phx.error({ reason = "unknown event " .. event })
end

function channel.handle_info(msg, socket)
  if msg == "sync" then
    phx.broadcast(socket, "sync_request", { id = socket.assigns.id })
  elseif msg == "tick" then
    push_count(socket)
    phx.send_after(socket, TICK_MS, "tick")  -- send_after fires once: schedule the next tick
  end
  return phx.noreply()
end

function channel.handle_out(event, payload, socket)
  if event == "added" then
    if merge(socket, { [payload.id] = payload.total }) then push_count(socket) end
  elseif event == "sync_request" then
    -- Every other member answers with its whole table (the newcomer's own request is skipped).
    if payload.id ~= socket.assigns.id then
      phx.broadcast(socket, "sync", { totals = phx.object(socket.assigns.totals) })
    end
  elseif event == "sync" then
    if merge(socket, payload.totals) then push_count(socket) end
  end
  return phx.noreply()
end

return channel
