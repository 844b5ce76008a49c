// Evaluates the engine's custom-property regular expressions the way the oVirt webadmin does in the
// browser (KeyValueModel: each definition split on '=', the value tested with a JavaScript RegExp),
// for the packaging tests. Same files as RegexCheck.java:
//   node RegexCheck.js DEFINITIONS CORPUS VERDICTS
'use strict';
const fs = require('fs');
const [definitionsFile, corpusFile, verdictsFile] = process.argv.slice(2);
const patterns = new Map();
for (const definition of fs.readFileSync(definitionsFile, 'utf8').trim().split(';')) {
    const parts = definition.split('=');
    patterns.set(parts[0], new RegExp(parts[1]));
}
const verdicts = [];
for (const line of fs.readFileSync(corpusFile, 'ascii').split('\n')) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    const pattern = patterns.get(line.slice(0, tab));
    if (!pattern) throw new Error('no definition for property ' + line.slice(0, tab));
    const hex = line.slice(tab + 1);
    const units = [];
    for (let i = 0; i < hex.length; i += 4) units.push(parseInt(hex.slice(i, i + 4), 16));
    verdicts.push(pattern.test(String.fromCharCode(...units)) ? '1' : '0');
}
fs.writeFileSync(verdictsFile, verdicts.map(v => v + '\n').join(''), 'ascii');
