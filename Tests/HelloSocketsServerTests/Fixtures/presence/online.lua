-- A topic only listened to: rooms track their members here too (join "room:x" with also = "online:all").
local channel = { topic = "online:*" }

function channel.join(topic, payload, socket)
  return phx.ok({ here = phx.presence.list(topic) })
end

return channel
