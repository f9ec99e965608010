// Live feedback for each slot row: the server's slot reader, through GET /api/v1/slots/check.
// Without JavaScript the same feedback appears when the form is submitted.
(function () {
  var form = document.getElementById('upgrade-form');
  var rows = document.getElementById('slot-rows');
  if (!form || !window.fetch) return;
  var view = form.dataset.view;
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function field(row, name) { return row.querySelector('[name="' + name + '"]'); }
  function show(out, r) {
    out.replaceChildren();
    if (!r.ok) { var e = el('p', r.error, 'error'); e.setAttribute('role', 'alert'); out.appendChild(e); return; }
    var dl = el('dl', null, 'times');
    [['your time', r.display_view || r.display], ['UTC', r.display_utc], ["slot's zone", r.display]].forEach(function (p) {
      dl.appendChild(el('dt', p[0])); dl.appendChild(el('dd', p[1]));
    });
    out.appendChild(dl);
    if (r.past) out.appendChild(el('p', 'This slot is in the past; give a future slot.', 'error'));
    else out.appendChild(el('p', r.notice_text, r.notice && r.notice.ok ? 'ok' : 'warnbox'));
    ((r.slot && r.slot.warnings) || []).forEach(function (w) {
      var box = el('div', w.message, 'warnbox');
      box.dataset.code = w.code;
      if (w.instants && w.instants.length) {
        var ul = el('ul');
        w.instants.forEach(function (t) {
          var d = new Date(t), local = t;
          try {
            var p = {};
            new Intl.DateTimeFormat('en-GB', { timeZone: view, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'shortOffset' })
              .formatToParts(d).forEach(function (x) { p[x.type] = x.value; });
            local = p.weekday + ' ' + p.year + '-' + p.month + '-' + p.day + ' ' + p.hour + ':' + p.minute + ' ' + view + ' (' + p.timeZoneName.replace('GMT', 'UTC') + ')';
          } catch (x) { /* an unknown zone: UTC only */ }
          ul.appendChild(el('li', local + ' = ' + d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC', 'mono'));
        });
        box.appendChild(ul);
      }
      out.appendChild(box);
    });
  }
  var timers = new WeakMap();
  function check(row) {
    var out = row.querySelector('.slot-check');
    var parts = ['slot_date', 'slot_start', 'slot_end'].map(function (n) { return field(row, n).value.trim(); });
    if (parts.some(function (p) { return !p; })) { out.replaceChildren(); return; }
    var text = parts[0] + ' ' + parts[1] + '-' + parts[2] + ' ' + field(row, 'slot_zone').value.trim();
    var seq = (Number(out.dataset.seq) || 0) + 1;
    out.dataset.seq = seq;
    fetch('/api/v1/slots/check?slot=' + encodeURIComponent(text) + '&view=' + encodeURIComponent(view), { credentials: 'same-origin' })
      .then(function (resp) { return resp.json(); })
      .then(function (r) { if (String(seq) === out.dataset.seq) show(out, r); })
      .catch(function () { /* the server checks it again on submit */ });
  }
  // What the server said about a field no longer holds once it is edited.
  form.addEventListener('input', function (e) {
    var box = e.target.closest('.slot-row, .field');
    if (!box || e.target.type === 'radio') return;
    box.classList.remove('invalid');
    box.querySelectorAll(':scope > .field-error, :scope > div > .field-error').forEach(function (x) { x.remove(); });
  });
  rows.addEventListener('input', function (e) {
    var row = e.target.closest('.slot-row');
    if (!row || e.target.type === 'radio') return;
    clearTimeout(timers.get(row));
    timers.set(row, setTimeout(function () { check(row); }, 250));
  });
  rows.addEventListener('change', function (e) {
    var row = e.target.closest('.slot-row');
    if (row && e.target.type !== 'radio') check(row);
  });
  var add = document.getElementById('add-slot');
  add.hidden = false;
  add.addEventListener('click', function () {
    var all = rows.querySelectorAll('.slot-row');
    var last = all[all.length - 1];
    var row = last.cloneNode(true);
    var n = all.length + 1;
    row.dataset.n = n;
    row.classList.remove('invalid');
    row.querySelector('.slot-n').textContent = n;
    row.querySelectorAll('.field-error').forEach(function (e) { e.remove(); });
    row.querySelector('.slot-check').replaceChildren();
    row.querySelector('.slot-check').id = 'slot-' + n + '-check';
    row.querySelectorAll('input').forEach(function (i) {
      if (i.type === 'radio') { i.value = n; i.checked = false; return; }
      var part = i.id.split('-').pop();
      i.id = 'slot-' + n + '-' + part;
      var label = i.parentNode.querySelector('label');
      if (label) label.htmlFor = i.id;
      if (part !== 'zone') i.value = '';
    });
    rows.appendChild(row);
    field(row, 'slot_date').focus();
  });
})();
