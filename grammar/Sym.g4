// The .sym language: models with parameter symmetries, and how to train them.
// docs/language.md is the reference; keep the two in step.
grammar Sym;

file
    : topDecl* EOF
    ;

topDecl
    : importDecl
    | modelDecl
    | trainDecl
    ;

// `import "blocks.sym"`: the models of another file (relative to this one), usable as blocks and in train blocks.
importDecl
    : IMPORT path=STRING
    ;

// ---------------------------------------------------------------- models
// A `layer` whose kind is another model of the file (or of an import) is a block: `layer b = Block(d = 32)`, applied as
// `b(x)` (several inputs in declaration order; `b(x).name` picks one of several outputs). Its names are qualified: `b.h`.

modelDecl
    : MODEL name=ID paramList? '{' modelStmt* '}'
    ;

// A rule of its own so that an error inside the list recovers at the '{' that follows it.
paramList
    : '(' (param (',' param)* ','?)? ')'
    ;

param
    : name=ID ':' type=ID ('=' value=expr)?
    ;

modelStmt
    : INPUT name=ID ':' elemType=ID? shape                      # inputStmt
    | LAYER target=indexedName? '=' kind=ID '(' argList? ')'    # layerStmt
    | OUTPUT target=indexedName '=' value=expr                  # outputStmt
    | SYMMETRY name=indexedName ':' kind=ID '(' argList? ')'    # symmetryStmt
    | FOR var=ID IN from=expr '..' to=expr '{' modelStmt* '}'   # forStmt
    | target=indexedName '=' value=expr                         # assignStmt
    ;

// `h`, or `h[i]` / `fc[i + 1]` inside a `for` block.
indexedName
    : ID ('[' expr ']')?
    ;

shape
    : '[' (expr (',' expr)*)? ']'
    ;

// ---------------------------------------------------------------- training

// `train MODEL { … }`, or `train MODEL as NAME { … }` to name the block (symc train --train NAME).
trainDecl
    : TRAIN model=ID (AS name=ID)? '{' trainStmt* '}'
    ;

trainStmt
    : BREAK method=call ON nameList                                      # breakStmt
    | DIAGNOSE call (',' call)* (EVERY every=expr unit=ID)?              # diagnoseStmt
    | INDUCE structure=ID ('(' argList? ')')? ON target=expr             # induceStmt
    | TELEPORT call (',' call)* (EVERY every=expr unit=ID)?              # teleportStmt
    | key=ID value=expr? (EVERY every=expr unit=ID)?                     # settingStmt
    ;

// `perm`, `p[2]`, or a block's symmetry by its qualified name: `b.perm`, `blk[1].perm`.
nameList
    : qualifiedName (',' qualifiedName)*
    ;

qualifiedName
    : indexedName ('.' indexedName)*
    ;

// ---------------------------------------------------------------- expressions

argList
    : arg (',' arg)* ','?
    ;

arg
    : (name=argName '=')? value=expr
    ;

// Argument names may be keywords: `step(every = 100)`, `idx(images = …)`.
argName
    : ID | EVERY | IN | ON | INPUT | OUTPUT | LAYER | MODEL | TRAIN | BREAK | DIAGNOSE | INDUCE | TELEPORT | SYMMETRY | FOR | AS | IMPORT
    ;

call
    : callee=ID ('(' argList? ')')?
    ;

expr
    : expr '.' member=ID                                  # memberExpr
    | expr '[' index=expr ']'                             # indexExpr
    | callee=expr '(' argList? ')'                        # callExpr
    | op=('-' | '+') expr                                 # unaryExpr
    | lhs=expr op=('*' | '/' | '%') rhs=expr              # mulExpr
    | lhs=expr op=('+' | '-') rhs=expr                    # addExpr
    | '(' expr ')'                                        # parenExpr
    | '[' (expr (',' expr)*)? ']'                         # listExpr
    | INT                                                 # intLit
    | FLOAT                                               # floatLit
    | STRING                                              # stringLit
    | (TRUE | FALSE)                                      # boolLit
    | ID                                                  # nameExpr
    ;

// ---------------------------------------------------------------- lexer

IMPORT   : 'import';
MODEL    : 'model';
INPUT    : 'input';
LAYER    : 'layer';
OUTPUT   : 'output';
SYMMETRY : 'symmetry';
FOR      : 'for';
IN       : 'in';
TRAIN    : 'train';
BREAK    : 'break';
DIAGNOSE : 'diagnose';
INDUCE   : 'induce';
TELEPORT : 'teleport';
ON       : 'on';
EVERY    : 'every';
AS       : 'as';
TRUE     : 'true';
FALSE    : 'false';

ID      : [a-zA-Z_] [a-zA-Z_0-9]*;
FLOAT   : [0-9]+ '.' [0-9]+ EXPONENT? | [0-9]+ EXPONENT | '.' [0-9]+ EXPONENT?;
INT     : [0-9]+;
STRING  : '"' (~["\\\r\n] | '\\' .)* '"';
fragment EXPONENT : [eE] [+-]? [0-9]+;

LINE_COMMENT  : '//' ~[\r\n]* -> channel(HIDDEN);
BLOCK_COMMENT : '/*' .*? '*/' -> channel(HIDDEN);
WS            : [ \t\r\n]+ -> channel(HIDDEN);

// Anything else (any non-ASCII character outside comments and strings, and ASCII characters that start no token)
// goes to a channel of its own: the parser never sees it, and Parser.Parse reports every such run as SYM0102.
ERROR_CHAR : . -> channel(2);
