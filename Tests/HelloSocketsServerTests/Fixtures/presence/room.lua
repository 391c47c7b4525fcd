-- The presence fixture: a room as the Phoenix guide writes one. Join "room:<name>" with {user = name}
-- (and optionally {also = "other:topic"} to be tracked there too); right after the join the channel
-- tracks itself under the user's name and pushes the room's list as presence_state.
local channel = { topic = "room:*" }

function channel.join(topic, payload, socket)
  if payload.track_in_join then
    phx.presence.track(socket, "early", {})  -- refused: use handle_info, as the error says
  end
  socket.assigns.user = payload.user or "anonymous"
  socket.assigns.also = payload.also
  phx.send_after(socket, 0, "after_join")
  if payload.list then return phx.ok({ here = phx.presence.list(socket) }) end
  return phx.ok()
end

function channel.handle_info(msg, socket)
  if msg == "after_join" then
    phx.presence.track(socket, socket.assigns.user, { online_at = "fixed" })
    if socket.assigns.also then phx.presence.track(socket, socket.assigns.user, {}, socket.assigns.also) end
    phx.push(socket, "presence_state", phx.presence.list(socket))
  end
end

function channel.handle_in(event, payload, socket)
  local user = socket.assigns.user
  if event == "status" then
    local ref, err = phx.presence.update(socket, user, { online_at = "fixed", status = payload.status })
    return phx.ok({ phx_ref = ref or phx.null, error = err or phx.null })
  elseif event == "track_again" then
    local ref, err = phx.presence.track(socket, user, {})
    return phx.ok({ phx_ref = ref or phx.null, error = err or phx.null })
  elseif event == "untrack" then
    local ok, err = phx.presence.untrack(socket, payload.key or user)
    return phx.ok({ untracked = ok or false, error = err or phx.null })
  elseif event == "list" then
    return phx.ok(phx.presence.list(payload.topic or socket))
  elseif event == "count" then
    local n = 0
    for _ in pairs(phx.presence.list(socket)) do n = n + 1 end
    return phx.ok({ count = n })
  elseif event == "shout" then
    phx.broadcast(socket, "shout", payload)
    return phx.ok()
  elseif event == "crash" then
    error("crashed on purpose")
  elseif event == "stop" then
    return phx.stop("shutdown")
  end
  return phx.error({ reason = "unknown event " .. event })
end

return channel
