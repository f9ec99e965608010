// Drives the UI in chromium, checking what each page shows and saving a screenshot of each.
//   node ui.js BASE_URL USERNAME PASSWORD OUT_DIR OTHER_TENANT_NAME
//     a customer user walks environments, releases and notes the way a validation lead would;
//   node ui.js journey BASE_URL OUT_DIR CUSTOMER_ADMIN PASSWORD PM PM_PASSWORD
//     the VAL cycle: the customer admin files a VAL request (first with a wrong field), the PM
//     approves it with the signature dialog, the provisioning run completes, the customer files
//     a finding, the PM resolves it, the customer admin signs off.
//   node ui.js upgrade BASE_URL OUT_DIR CUSTOMER_ADMIN PASSWORD PM PM_PASSWORD DAY1 DAY2
//     a PROD upgrade: the customer admin fills the slot picker (a DST gap refused live, then
//     by the server), files two slots on DAY1 and DAY2; the PM opens the scheduling page
//     (heatmap, conflicts, week calendar) and books slot 1, overriding the unvalidated build.
//   node ui.js hotfix BASE_URL OUT_DIR CUSTOMER_ADMIN PASSWORD PM PM_PASSWORD DAY
//     a hotfix: the customer admin reads it in the inbox, a decline without reason is refused,
//     accepts it e-signed with a slot on DAY (HFX-1); the PM books it with confirmation steps,
//     starts it now with a reason, releases TEST's and MAIN's downtime on the run card and
//     sees it succeed with the measured downtime; the PROD pair then runs the hotfix.
// Exits non-zero with a message on the first failed check.
const { chromium } = require('playwright-core');

const mode = process.argv[2];
const [base, username, password, out, otherTenant] = process.argv.slice(2);

function check(cond, what) {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
  console.log(`ok: ${what}`);
}

// What chromium refused under valet's Content-Security-Policy, on any page of the run.
const violations = [];
function watch(page) {
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  return page;
}

function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

async function walk() {
  const browser = await launch();
  try {
    const page = watch(await browser.newPage({ viewport: { width: 1280, height: 900 } }));
    await page.goto(`${base}/releases`);
    check(page.url().includes('/login?next='), 'an anonymous visit lands on the sign-in page');
    await page.fill('#username', username);
    await page.fill('#password', 'wrong password');
    await page.click('button[type=submit]');
    check(await page.isVisible('text=Unknown username or wrong password.'), 'a wrong password is refused');
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/releases`);
    check(true, 'signing in returns to the page asked for');
    await page.screenshot({ path: `${out}/releases.png`, fullPage: true });

    await page.click('nav >> text=Environments');
    await page.waitForSelector('h1:has-text("Environments")');
    const home = await page.textContent('main');
    check(home.includes('PROD-MAIN') && home.includes('PROD-TEST'), 'the own PROD pair is listed');
    check(!home.includes(otherTenant), 'no other tenant is visible');
    await page.screenshot({ path: `${out}/environments.png`, fullPage: true });

    await page.click('nav >> text=Release notes');
    await page.selectOption('#from', '24.1.0.1042');
    await page.selectOption('#to', '24.3.0.1300');
    await page.click('button:has-text("Show")');
    const frame = page.frameLocator('iframe[title="release notes"]');
    await frame.locator('h2:has-text("Needs your validation")').waitFor();
    const notes = await frame.locator('body').textContent();
    check(notes.includes('APP-3199') && notes.includes('APP-3301'), 'the cumulative notes list hotfix and feature items');
    check(notes.includes('not covered by the vendor'), 'the configuration-items reminder is shown');
    await page.screenshot({ path: `${out}/notes.png`, fullPage: true });

    const href = await page.getAttribute('a:has-text("PDF")', 'href');
    const resp = await page.request.get(`${base}${href}`);
    const body = await resp.body();
    check(resp.ok() && body.subarray(0, 5).toString() === '%PDF-', 'the PDF link downloads with the session');
    require('fs').writeFileSync(`${out}/notes.pdf`, body);

    await page.click('nav >> text=API');
    await page.waitForSelector('h1:has-text("API reference")');
    const op = page.locator('details#op-requests_create_val');
    await op.locator('summary').click();
    const opText = await op.textContent();
    check(opText.includes('/api/v1/requests/val') && opText.includes('ValRequestInput') && opText.includes('409'),
      'the API page shows an operation with its body and answers');
    await op.screenshot({ path: `${out}/api-operation.png` });
    await op.locator('a:has-text("ValRequestInput")').first().click();
    await page.locator('#schema-ValRequestInput').screenshot({ path: `${out}/api-schema.png` });
    check(page.url().endsWith('#schema-ValRequestInput') && await page.isVisible('#schema-ValRequestInput >> text=sso_required'),
      'a type links to its schema with its fields');
    const spec = await page.request.get(`${base}/api/v1/openapi.json`);
    check(spec.ok() && (await spec.json()).openapi === '3.1.0', 'the page links the document it is made from');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${out}/api.png` });

    await page.click('button:has-text("Sign out")');
    await page.goto(`${base}/`);
    check(page.url().includes('/login'), 'after signing out the pages ask to sign in again');
  } finally {
    await browser.close();
  }
}

// Signing in (landing on `next`) and out of the UI in `page`.
function session(page, base) {
  return {
    signIn: async (user, pass, next) => {
      await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
      await page.fill('#username', user);
      await page.fill('#password', pass);
      await page.click('button[type=submit]');
      await page.waitForURL(`${base}${next}`);
    },
    signOut: async () => {
      await page.click('button:has-text("Sign out")');
      await page.waitForURL(/\/login/);
    },
  };
}

// Reads `read(page)` on fresh loads of `url` every `every` ms until it returns a truthy value
// (which is returned) or `seconds` pass (then `what` is reported as failed). A page that
// reloads itself while it is read (run pages do, when a run's state changes) is read again.
async function poll(page, url, seconds, what, read, every = 1000) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      await page.goto(url);
      const got = await read(page);
      if (got) return got;
    } catch (e) {
      if (!/context|navigat|destroyed|detached/i.test(String(e))) throw e;
    }
    if (Date.now() > deadline) throw new Error(`check failed: ${what} (not within ${seconds} s)`);
    await page.waitForTimeout(every);
  }
}

function isoDay(offset) {
  const d = new Date(Date.now() + offset * 86400000);
  return d.toISOString().slice(0, 10);
}

async function journey(base, out, customer, customerPassword, pm, pmPassword) {
  const browser = await launch();
  try {
    const page = watch(await browser.newPage({ viewport: { width: 1280, height: 1000 } }));
    const { signIn, signOut } = session(page, base);

    // The customer admin files a VAL request; a date in the past is refused under its field.
    await signIn(customer, customerPassword, '/requests');
    await page.click('text=New VAL request');
    await page.waitForSelector('h1:has-text("New VAL request")');
    await page.selectOption('#pair', { index: 1 });
    await page.selectOption('#build', '24.3.0.1300');
    await page.fill('#begin', '2020-01-01');
    await page.fill('#end', isoDay(60));
    await page.fill('#purpose', 'Validation of 24.3 before the PROD upgrade');
    await page.click('button:has-text("File VAL request")');
    await page.waitForSelector('#begin-error');
    const beginError = await page.textContent('#begin-error');
    check(beginError.includes('in the past')
      && await page.inputValue('#purpose') === 'Validation of 24.3 before the PROD upgrade'
      && await page.inputValue('#build') === '24.3.0.1300',
      'a wrong field is shown under the field, with the typed values kept');
    await page.screenshot({ path: `${out}/request-new-errors.png`, fullPage: true });
    await page.fill('#begin', isoDay(7));
    await page.click('button:has-text("File VAL request")');
    await page.waitForURL(`${base}/requests/VAL-1`);
    check((await page.textContent('#request-state')).includes('submitted'), 'the customer admin filed VAL-1');
    await page.screenshot({ path: `${out}/request-filed.png`, fullPage: true });
    await signOut();

    // The PM approves it, e-signed: the dialog shows the record and asks for the password.
    await signIn(pm, pmPassword, '/requests/VAL-1');
    await page.click('text=Approve (e-sign)');
    await page.waitForSelector('h1:has-text("Electronic signature")');
    const sha = (await page.textContent('#record-sha')).trim();
    check(/^[0-9a-f]{64}$/.test(sha) && (await page.textContent('#statement')).includes('I approve this record.'),
      'the signature dialog shows the record, its hash and the meaning');
    await page.screenshot({ path: `${out}/sign-dialog.png`, fullPage: true });
    await page.fill('#sign-password', 'not my password');
    await page.click('button:has-text("Sign: approved")');
    check(await page.isVisible('text=nothing was signed'), 'a wrong password signs nothing');
    await page.fill('#sign-password', pmPassword);
    await page.click('button:has-text("Sign: approved")');
    await page.waitForURL(`${base}/requests/VAL-1#signatures`);
    const sigs = await page.textContent('aside');
    check(sigs.includes('Pat Example-PM') && sigs.includes('I approve this record.'),
      'the PM approved VAL-1 with an e-signature');
    await page.screenshot({ path: `${out}/request-approved.png`, fullPage: true });

    // The steps table follows the run's server-sent events. The events are stubbed here so
    // that the renderer is checked on its own (escaping, durations, states).
    const events = `${base}/api/v1/requests/VAL-1/events`;
    await page.route(events, (route) => route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      body: `event: run\ndata: ${JSON.stringify({
        id: 'stub', state: 'running', error: null,
        steps: [
          { seq: 1, name: 'clone', env: 'MAIN', state: 'done', attempts: 1, duration_ms: 1500, log: 'copied <volunteers> & events' },
          { seq: 2, name: 'clone', env: 'TEST', state: 'running', attempts: 2, duration_ms: null, log: '' },
        ],
      })}\n\n`,
    }));
    await page.goto(`${base}/requests/VAL-1`);
    await page.waitForSelector('#steps tr[data-seq="2"] .pill.state-running');
    const first = await page.textContent('#steps tr[data-seq="1"]');
    check(first.includes('1.5 s') && first.includes('copied <volunteers> & events')
      && (await page.$$('#steps tbody tr')).length === 2
      && await page.textContent('#run-state') === 'running',
      'the steps table is re-rendered from the run events');
    await page.unroute(events);

    // The run: the page follows it live; reload until the VAL pair is provisioned (≤ 120 s).
    await poll(page, `${base}/requests/VAL-1`, 120, 'the provisioning run finished', async (p) => {
      if (await p.$('#run-state') && (await p.textContent('#run-state')).includes('failed')) {
        throw new Error(`check failed: the provisioning run failed: ${await p.textContent('#run-card')}`);
      }
      return p.isVisible('text=VAL pair provisioned');
    }, 2000);
    check(true, 'the provisioning run succeeded');
    const pairText = await page.textContent('main');
    check(/end of \d{4}-\d{2}-\d{2} \(Europe\/Berlin\)/.test(pairText),
      "the VAL pair expires at the end of its last day, on the customer's clock");
    await page.screenshot({ path: `${out}/request-provisioned.png`, fullPage: true });
    await signOut();

    // The customer files a finding.
    await signIn(customer, customerPassword, '/requests/VAL-1');
    await page.click('summary:has-text("File a finding")');
    await page.fill('#finding-title', 'Dashboard "Screening" shows no data');
    await page.selectOption('#finding-severity', 'major');
    await page.selectOption('#finding-area', 'configuration_item');
    await page.fill('#finding-steps', 'Open the Screening dashboard. Expected: this week\'s visits. Actual: empty.');
    await page.click('button:has-text("File finding")');
    await page.waitForSelector('#finding-F-1');
    check((await page.textContent('#finding-F-1')).includes('open'), 'the customer filed finding F-1');
    check(!(await page.isVisible('text=Sign off validation')), 'sign-off waits for the open finding');
    await signOut();

    // The PM resolves it.
    await signIn(pm, pmPassword, '/requests/VAL-1');
    await page.fill('#resolve-F-1', 'Dashboard filter fixed in the VAL configuration');
    await page.click('#finding-F-1 button:has-text("Resolve")');
    await page.waitForSelector('#finding-F-1 .pill.state-resolved');
    check(true, 'the PM resolved F-1');
    await signOut();

    // The customer admin signs off, e-signed.
    await signIn(customer, customerPassword, '/requests/VAL-1');
    await page.click('text=Sign off validation');
    await page.waitForSelector('h1:has-text("Electronic signature")');
    check((await page.textContent('#statement')).includes('validation of this record is complete'), 'the sign-off dialog states its meaning');
    await page.fill('#sign-password', customerPassword);
    await page.click('button:has-text("Sign: validated")');
    await page.waitForURL(`${base}/requests/VAL-1#signatures`);
    check(await page.isVisible('text=validation signed off'), 'the customer admin signed off VAL-1');
    await page.screenshot({ path: `${out}/request-signed-off.png`, fullPage: true });
  } finally {
    await browser.close();
  }
}

async function upgrade(base, out, customer, customerPassword, pm, pmPassword, day1, day2) {
  const browser = await launch();
  try {
    const page = watch(await browser.newPage({ viewport: { width: 1280, height: 1000 } }));
    const { signIn, signOut } = session(page, base);
    const slot = async (n, date, start, end, zone) => {
      await page.fill(`#slot-${n}-date`, date);
      await page.fill(`#slot-${n}-start`, start);
      await page.fill(`#slot-${n}-end`, end);
      await page.fill(`#slot-${n}-zone`, zone);
      await page.press(`#slot-${n}-zone`, 'Tab');
    };

    // The customer admin types a slot in the hour Chicago skips: refused as it is typed.
    await signIn(customer, customerPassword, '/requests');
    await page.click('text=New upgrade request');
    await page.waitForSelector('h1:has-text("New PROD upgrade request")');
    check(await page.getAttribute('#build', 'placeholder') === 'validated build'
      && await page.inputValue('#slot-1-zone') === 'Europe/Berlin',
      'the form offers the validated build and the customer\'s zone by default');
    await page.selectOption('#pair', { index: 1 });
    await page.fill('#build', '24.3.0.1300');
    await slot(1, '2027-03-14', '02:30', '03:30', 'America/Chicago');
    await page.waitForSelector('#slot-1-check .error');
    const gap = await page.textContent('#slot-1-check');
    check(gap.includes('does not exist in America/Chicago'), 'the DST gap is shown live under the slot');
    await page.screenshot({ path: `${out}/upgrade-dst-gap.png`, fullPage: true });

    // Submitted anyway (and without the downtime): the server says the same, under the fields.
    await page.click('button:has-text("File upgrade request")');
    await page.waitForSelector('#downtime_minutes-error');
    check((await page.textContent('#slot-1-error')).includes('does not exist')
      && await page.inputValue('#build') === '24.3.0.1300'
      && await page.inputValue('#slot-1-zone') === 'America/Chicago',
      'the server refuses the gap and a missing downtime under their fields, keeping what was typed');
    await page.screenshot({ path: `${out}/upgrade-new-errors.png`, fullPage: true });

    // Fixed: two slots five weeks ahead in Berlin time.
    await page.fill('#downtime_minutes', '90');
    await slot(1, day1, '12:00', '13:00', 'Europe/Berlin');
    await page.waitForSelector('#slot-1-check dl.times');
    await page.waitForFunction(() => !document.querySelector('#slot-1-check .error'));
    const ok1 = await page.textContent('#slot-1-check');
    check(ok1.includes('UTC') && ok1.includes('Europe/Berlin') && ok1.includes('of notice (at least'),
      'a valid slot shows the viewer\'s zone, UTC and the notice');
    if (!(await page.$('#slot-2-date'))) await page.click('#add-slot');
    // The hour Berlin repeats: accepted with both instants; an abbreviation: read with a warning.
    await slot(2, '2027-10-31', '02:30', '03:30', 'Europe/Berlin');
    await page.waitForSelector('#slot-2-check [data-code="dst_overlap"] li:nth-child(2)');
    await page.fill('#slot-2-zone', 'CET');
    await page.waitForSelector('#slot-2-check [data-code="abbreviation"]');
    check((await page.textContent('#slot-2-check [data-code="abbreviation"]')).includes('Europe/Berlin'),
      'a DST overlap shows both instants and an abbreviation names the zone it was read as');
    await page.screenshot({ path: `${out}/upgrade-overlap.png`, fullPage: true });
    await slot(2, day2, '14:00', '15:00', 'Europe/Berlin');
    await page.waitForFunction(() => !document.querySelector('#slot-2-check .warnbox[data-code]'));
    await page.waitForSelector('#slot-2-check dl.times');
    await page.check('input[name=preferred][value="1"]');
    await page.screenshot({ path: `${out}/upgrade-new-valid.png`, fullPage: true });
    await page.click('button:has-text("File upgrade request")');
    await page.waitForURL(/\/requests\/UPG-\d+$/);
    const key = page.url().split('/').pop();
    const rows = await page.$$('#upgrade-slots tr');
    check(key === 'UPG-1' && rows.length === 3 && await page.isVisible('#build-override'),
      'the customer admin filed UPG-1 with two slots');
    await page.screenshot({ path: `${out}/upgrade-filed.png`, fullPage: true });
    await signOut();

    // The PM assesses: heatmap, conflicts, calendar.
    await signIn(pm, pmPassword, `/requests/${key}`);
    await page.click('#schedule-link');
    await page.waitForSelector('h1:has-text("Schedule")');
    const loaded = await page.isVisible('#heatmap svg rect');
    const activityError = await page.$('#activity-error') ? await page.textContent('#activity-error') : '';
    const svg = await page.request.get(`${base}/api/v1/quiet?request=${key}&format=svg`);
    check(loaded && svg.ok() && (await svg.text()).includes('<svg')
      && await page.isVisible('#assessment .conflict.blocking[data-kind="unvalidated_build"]')
      && await page.isVisible('#calendar .ev.preferred')
      && await page.isVisible('#calendar .ev.blackout'),
      `the scheduling page shows the heatmap, the assessment and the build conflict${activityError ? ` (${activityError})` : ''}`);
    await page.screenshot({ path: `${out}/upgrade-schedule.png`, fullPage: true });
    await page.click('#show-alternatives');
    await page.waitForSelector('h3:has-text("Quieter alternatives")');
    const alternatives = (await page.$$('#alternatives tr')).length - 1;
    const firstAlt = (await page.textContent('#alternatives tr:nth-child(2)')).match(/\b(\d\d:\d\d)–/)[1];
    check(alternatives > 0 && await page.isVisible('#choice-a1')
      && (await page.textContent('#heatmap svg')).includes(`alternative 1 · ${(await page.textContent('#alternatives tr:nth-child(2) td:nth-child(2)')).slice(0, 3)} ${firstAlt}`),
      `alternatives are offered in the booking form (${alternatives})`);
    await page.screenshot({ path: `${out}/upgrade-alternatives.png`, fullPage: true });

    // Booking without overriding the conflict is refused (409) and says what to do.
    await page.check('#choice-1');
    await page.selectOption('#book-engineer', 'eve.engineer');
    await page.click('#book-form button[type=submit]');
    await page.waitForSelector('#schedule-error');
    check((await page.textContent('#schedule-error')).includes('cannot be booked'),
      'booking without the override is refused with the conflict');

    await page.check('#choice-1');
    await page.selectOption('#book-engineer', 'eve.engineer');
    await page.check('#override-unvalidated_build');
    await page.fill('#reason-unvalidated_build', '24.3 was validated on the twin site; customer agreed');
    await page.fill('#book-password', pmPassword);
    await page.click('#book-form button[type=submit]');
    await page.waitForURL(new RegExp(`/requests/${key}#upgrade$`));
    const booking = await page.textContent('#booking');
    check(booking.includes('Eve Engineer') && booking.includes('calendar revision 0')
      && booking.includes('unvalidated build') && booking.includes('I approve this record.') && (await page.textContent('#request-state')).includes('scheduled'),
      'the PM booked slot 1 for Eve Engineer, overriding the build e-signed');
    check((await page.textContent('#done')).includes('Upgrade booked.'), 'the page says the booking was made');
    await page.screenshot({ path: `${out}/upgrade-booked.png`, fullPage: true });
    const ics = await page.request.get(`${base}${await page.getAttribute('#ics-link', 'href')}`);
    const icsText = await ics.text();
    check(ics.ok() && icsText.includes('BEGIN:VCALENDAR') && icsText.includes('SEQUENCE:0'),
      'the .ics downloads with the session');

    await page.click('nav >> text=Schedule');
    await page.waitForSelector('h1:has-text("Upgrade schedule")');
    check((await page.textContent('main')).includes(key), 'the schedule overview lists UPG-1');
    await page.screenshot({ path: `${out}/schedule-overview.png`, fullPage: true });
  } finally {
    await browser.close();
  }
}

async function hotfix(base, out, customer, customerPassword, pm, pmPassword, day) {
  const browser = await launch();
  try {
    const page = watch(await browser.newPage({ viewport: { width: 1280, height: 1000 } }));
    const { signIn, signOut } = session(page, base);
    const build = '24.2.1.1201';
    const card = `[id="hotfix-${build}"]`;

    // The customer admin reads the hotfix in the inbox: notes, its pair, undecided.
    await signIn(customer, customerPassword, '/hotfixes');
    const inbox = await page.textContent(card);
    check(inbox.includes('high severity') && inbox.includes('APP-3199') && inbox.includes('undecided')
      && (await page.textContent('main')).includes('never applied automatically'),
      'the hotfix inbox shows the hotfix, its notes and the undecided pair');
    await page.screenshot({ path: `${out}/hotfix-inbox.png`, fullPage: true });

    // Declining without a reason and a password records nothing and says why.
    await page.click(`${card} form.decline button[type=submit]`);
    await page.waitForSelector(`${card} .error`);
    const refused = await page.textContent(`${card} .error`);
    check(refused.includes('Nothing was recorded.') && refused.includes('reason') && refused.includes('password')
      && (await page.textContent(card)).includes('undecided'),
      'a decline without reason and password is refused and records nothing');

    // Accepted with a slot and the password: HFX-1 is filed, e-signed.
    const accept = `${card} form.accept`;
    await page.fill(`${accept} input[name=slot_date] >> nth=0`, day);
    await page.fill(`${accept} input[name=slot_start] >> nth=0`, '09:00');
    await page.fill(`${accept} input[name=slot_end] >> nth=0`, '10:00');
    await page.fill(`${accept} input[name=downtime_minutes]`, '30');
    await page.fill(`${accept} input[name=note]`, 'after the morning dosing');
    await page.screenshot({ path: `${out}/hotfix-accept-form.png`, fullPage: true });
    await page.fill(`${accept} input[name=password]`, customerPassword);
    await page.click(`${accept} button[type=submit]`);
    await page.waitForURL(/\/requests\/HFX-\d+$/);
    const key = page.url().split('/').pop();
    check(key === 'HFX-1' && (await page.textContent('main')).includes(build)
      && (await page.textContent('#hotfix-accepted')).includes('accepted by the customer')
      && (await page.textContent('main')).includes('I accept this record.'),
      'the customer admin accepted the hotfix, filing HFX-1 that shows the e-signed acceptance');
    await page.goto(`${base}/hotfixes`);
    const decided = await page.textContent(card);
    check(/Accepted by .*e-signed/.test(decided) && decided.includes('HFX-1') && !(await page.$(`${accept}`)),
      'the inbox shows the signed acceptance and offers no second decision');
    await page.screenshot({ path: `${out}/hotfix-accepted.png`, fullPage: true });
    await signOut();

    // The PM books it, with each environment's downtime waiting for a release.
    await signIn(pm, pmPassword, `/requests/${key}`);
    await page.click('#schedule-link');
    await page.waitForSelector('h1:has-text("Schedule")');
    await page.check('#choice-1');
    await page.selectOption('#book-engineer', 'eve.engineer');
    await page.check('#book-confirm');
    // The customer's acceptance is on record, so the hotfix needs no override to be booked.
    check(await page.isVisible('#choice-1') && !(await page.$('#assessment .conflict.blocking')),
      'the accepted hotfix can be booked without an override');
    await page.click('#book-form button[type=submit]');
    await page.waitForURL(new RegExp(`/requests/${key}#upgrade$`));
    check((await page.textContent('#request-state')).includes('scheduled') && await page.isVisible('#start-now')
      && await page.isVisible('#run-actions-hint'),
      'the PM booked HFX-1 and may start it now');

    // Started at once, with a reason: the run card follows the steps live.
    await page.fill('form[action$="/run/start"] input[name=reason]', 'customer asked for the fix before the study visit');
    await page.click('#start-now');
    const reqUrl = `${base}/requests/${key}`;
    const release = async (env) => {
      const label = await poll(page, reqUrl, 120, `the run waits for ${env}'s release`, async (p) => {
        if (await p.$('#run-state') && (await p.textContent('#run-state')).includes('failed')) {
          throw new Error(`check failed: the run failed: ${await p.textContent('#run-card')}`);
        }
        const label = await p.$('#confirm-button') ? await p.textContent('#confirm-button') : '';
        return label.includes(env) ? label : null;
      }, 500);
      check(label.includes(env) && await page.isVisible('#steps tbody tr'),
        `the run card shows its steps and waits for ${env}'s release`);
      return label;
    };
    await release('TEST');
    check(await page.textContent('#booking-state') === 'running', 'the booking shows the run in progress');
    await page.screenshot({ path: `${out}/run-waiting.png`, fullPage: true });
    await page.click('#confirm-button');
    await release('MAIN');
    await page.click('#confirm-button');
    // No reload from here: the page follows the run by itself (server-sent events, and a
    // reload of its own when the request's state changes).
    await page.waitForSelector('#run-state.state-succeeded, #run-state.state-failed', { timeout: 180000 });
    const done = await page.textContent('#run-card');
    check(await page.textContent('#run-state') === 'succeeded', `the hotfix run succeeded by itself on the page: ${done}`);
    const clock = await page.textContent('#downtime-clock');
    check(/TEST\s+[\d.]+ (ms|s)/.test(clock) && /MAIN\s+[\d.]+ (ms|s)/.test(clock)
      && done.includes('maintenance_off') && done.includes('smoke'),
      `the run succeeded and the page shows each environment's measured downtime (${clock.trim()})`);
    await page.screenshot({ path: `${out}/run-succeeded.png`, fullPage: true });

    // The timeline folds the worker's step-by-step progress (the run card shows it) and keeps
    // people's actions in sight; a fold opens to every event in it.
    await page.goto(page.url());
    const top = '#timeline + ol.timeline > li';
    const folds = await page.$$eval(`${top}.steps summary`, (els) => els.map((e) => e.textContent));
    check(folds.length >= 1 && folds.every((f) => /\d+ run steps/.test(f)), `the run's steps are folded in the timeline (${folds.map((f) => f.replace(/\s+/g, ' ').trim()).join('; ')})`);
    const visible = await page.$$eval(`${top}:not(.steps)`, (els) => els.map((e) => e.textContent).join('\n'));
    const folded = folds.map((f) => Number(/(\d+) run steps/.exec(f)[1])).reduce((a, b) => a + b, 0);
    const loose = (visible.match(/run\.step/g) || []).length;
    check(visible.includes('run.start_now') && visible.includes('run.confirm') && folded > 2 * loose,
      `people's actions (start now, releases) stay in the timeline; ${folded} steps folded, ${loose} in short stretches left open`);
    check(!(await page.isVisible(`${top}.steps details li`)), 'a fold is closed until opened');
    await page.click(`${top}.steps summary >> nth=0`);
    const opened = await page.textContent(`${top}.steps >> nth=0`);
    check(await page.isVisible(`${top}.steps details li >> nth=0`) && /step 1 precheck/.test(opened), 'an opened fold lists its steps');
    await page.screenshot({ path: `${out}/request-timeline.png`, fullPage: true });

    await page.click('nav >> text=Environments');
    await page.waitForSelector('h1:has-text("Environments")');
    const envs = await page.textContent('main');
    check(envs.includes(build), `the PROD pair runs ${build}`);
    await page.screenshot({ path: `${out}/environments-after-hotfix.png`, fullPage: true });
  } catch (e) {
    // What the page showed when a check failed, to read beside the message.
    for (const p of browser.contexts().flatMap((c) => c.pages())) {
      await p.screenshot({ path: `${out}/hotfix-failed.png`, fullPage: true }).catch(() => {});
    }
    throw e;
  } finally {
    await browser.close();
  }
}

const modes = { journey, upgrade, hotfix };
(modes[mode] ? modes[mode](...process.argv.slice(3)) : walk()).then(() => {
  check(violations.length === 0, `no script or resource was refused by the page's security policy ${violations.join(' | ')}`);
}).catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
