// The run card of a request page follows its run live (server-sent events from the API);
// without JavaScript the page refreshes itself every 10 s while the run is live.
(function () {
  var card = document.getElementById('run-card');
  if (!card || !window.EventSource) return;
  var key = card.dataset.key;
  var shownState = document.getElementById('request-state').dataset.state;
  function duration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms < 1000) return ms + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    return Math.floor(ms / 60000) + ' min ' + Math.floor((ms % 60000) / 1000) + ' s';
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function pill(state) { return el('span', state, 'pill state-' + state); }
  function renderRun(run) {
    if (!run || !run.steps) return;
    var table = document.getElementById('steps');
    if (!table) { location.reload(); return; }
    var rs = document.getElementById('run-state');
    if (rs) { rs.textContent = run.state; rs.className = 'pill state-' + run.state; }
    var err = document.getElementById('run-error');
    if (err) { err.textContent = run.error || ''; err.hidden = !run.error; }
    var body = table.tBodies[0];
    var open = {};
    Array.prototype.forEach.call(body.querySelectorAll('details[open]'), function (d) {
      open[d.closest('tr').dataset.seq] = true;
    });
    var rows = document.createDocumentFragment();
    run.steps.forEach(function (s) {
      var tr = el('tr');
      tr.dataset.seq = s.seq;
      tr.appendChild(el('td', s.seq));
      tr.appendChild(el('td', s.name, 'mono'));
      tr.appendChild(el('td', s.env || ''));
      var st = el('td'); st.appendChild(pill(s.state)); tr.appendChild(st);
      tr.appendChild(el('td', s.attempts));
      tr.appendChild(el('td', duration(s.duration_ms)));
      var lg = el('td');
      if (s.log) {
        var d = el('details'); d.appendChild(el('summary', 'log'));
        d.appendChild(el('pre', s.log, 'log'));
        if (open[String(s.seq)]) d.open = true;
        lg.appendChild(d);
      }
      tr.appendChild(lg);
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
    downtimeClock(run);
  }
  // An upgrade's downtime: measured per environment once maintenance is off, ticking while
  // it is on.
  var ticking = null;
  function downtimeClock(run) {
    var out = document.getElementById('downtime-clock');
    if (!out) return;
    var on = {}, off = {};
    run.steps.forEach(function (s) {
      var a = s.artifacts || {};
      if (s.name === 'maintenance_on' && s.state === 'done' && a.at_ms) on[s.env] = a.at_ms;
      if ((s.name === 'maintenance_off' || s.name === 'rollback_maintenance_off') && s.state === 'done' && a.downtime_ms !== undefined)
        off[s.env] = { ms: a.downtime_ms, back: s.name.indexOf('rollback') === 0 };
    });
    function paint() {
      var parts = [];
      Object.keys(on).forEach(function (env) {
        if (off[env]) parts.push(env + ' ' + duration(off[env].ms) + (off[env].back ? ' (rolled back)' : ''));
        else parts.push(env + ' down for ' + duration(Date.now() - on[env]) + ' …');
      });
      out.textContent = parts.length ? 'Downtime: ' + parts.join(' · ') : '';
    }
    paint();
    if (ticking) { clearInterval(ticking); ticking = null; }
    if (Object.keys(on).some(function (e) { return !off[e]; })) ticking = setInterval(paint, 1000);
  }
  var es = new EventSource('/api/v1/requests/' + encodeURIComponent(key) + '/events');
  es.addEventListener('run', function (e) {
    try { renderRun(JSON.parse(e.data)); } catch (x) { /* a malformed event is skipped */ }
  });
  es.addEventListener('request', function (e) {
    var r;
    try { r = JSON.parse(e.data); } catch (x) { return; }
    if (r && r.state && r.state !== shownState) {
      // The actions and fields depend on the state: show the page again as the server has it.
      es.close();
      location.reload();
    }
  });
})();
