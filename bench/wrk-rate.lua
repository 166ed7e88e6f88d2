-- Paces each wrk connection to one request every 100 ms: with -c 10 that is 100 scrapes a second
-- (an open-loop rate like Prometheus', not wrk's default as-fast-as-possible closed loop).
function delay()
  return 100
end
