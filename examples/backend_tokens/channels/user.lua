-- "user:<id>": only that user may join; the join reply says who they are and which kind of token let them in.
local channel = { topic = "user:*" }

function channel.join(topic, payload, socket)
  if topic ~= "user:" .. socket.assigns.user_id then
    return phx.error({ reason = "unauthorized" })
  end
  return phx.ok({ user_id = socket.assigns.user_id, via = socket.assigns.via })
end

function channel.handle_in(event, payload, socket)
  if event == "whoami" then
    return phx.ok({ user_id = socket.assigns.user_id, via = socket.assigns.via })
  end
  return phx.error({ reason = "unknown event " .. event })
end

return channel
