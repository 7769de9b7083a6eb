"""Phrase tables for the escalation guardrails (English, Spanish, French).

Every pattern is matched against *normalized* text: lower-case, accents stripped, curly
quotes straightened, whitespace collapsed (see ``guardrails.normalize``). So write "reembolso"
not "Reembolso", "donnees" not "données", and "don'?t" to accept chat-style "dont". Patterns
are wrapped in word boundaries by the compiler, so "fire" never matches inside "fireproof".

Each table maps a reason code to regex fragments. ``NEGATABLE`` lists the codes whose matches
are dropped when a negation sits just before them in the same clause ("I'm not angry").
"""

from __future__ import annotations

# Reasons whose trigger words are often negated in harmless messages. Legal threats, disputes
# and injection are deliberately absent: "I don't want to go to small claims, but..." is still
# a threat, and mentioning it at all warrants a human.
NEGATABLE: frozenset[str] = frozenset({"human_requested", "anger", "safety"})

_BODY = (
    r"(?:hand|finger|thumb|arm|leg|foot|face|head|eye|knee|ankle|wrist|skin|back|neck|lip|"
    r"mouth|chin|palm|nose|toe|collarbone|hip|shoulder)s?"
)

_PERSON = (
    r"(?:a |an |the |your |some |)(?:real |actual |live |proper |)"
    r"(?:human(?: being)?|person|manager|supervisor|someone|somebody|agent|representative|"
    r"member of (?:staff|the team)|staff member|owner|team leader|boss)"
)

PHRASES: dict[str, tuple[str, ...]] = {
    "human_requested": (
        rf"(?:speak|talk|chat|get through|be put through|put me through) (?:to|with) {_PERSON}",
        rf"(?:want|need|like|prefer|rather have|get|have) {_PERSON} (?:to )?"
        r"(?:call|ring|phone|contact|look at|deal with|reply|respond|get back)",
        r"(?:real|actual|live) (?:human|person)",
        r"human being",
        rf"(?:get|give|fetch|find|bring|put) me (?:through to |){_PERSON}",
        rf"(?:can|could|may) i (?:get|have|speak to|talk to|speak with|talk with) {_PERSON}",
        r"(?:don'?t|do not|doesn'?t) want (?:to (?:deal|talk|speak|chat) (?:with|to) |)"
        r"(?:a |an |the |your |)(?:bot|robot|chatbot|ai|automated (?:reply|replies|system))",
        r"(?:don'?t|do not) (?:use|want) (?:ai|a bot|chatgpt|automated replies)",
        r"(?:not|no more|stop|enough of) (?:talking to |speaking to |with )?"
        r"(?:a |the |this |your |)(?:bot|robot|chatbot|ai|machine|automated (?:reply|response))",
        r"(?:am i|are you|is this) (?:talking to |speaking to |chatting with |)"
        r"(?:a |an |the |)(?:bot|robot|chatbot|ai)",
        r"(?:can|could|would|will|please) (?:you |someone |somebody |)(?:call|ring|phone) me",
        r"(?:call|ring|phone) me (?:back|on|at|asap|today|tomorrow)",
        r"give me a (?:call|ring|phone)",
        r"escalate (?:this|my|it|the)",
        r"formal complaint",
        r"(?:speak|talk) to (?:whoever|someone) in charge",
        # Spanish
        r"hablar con (?:una persona|un humano|un ser humano|alguien|un agente|el encargado|"
        r"la encargada|un responsable|el responsable|un supervisor|el gerente|un operador)",
        r"persona (?:real|de verdad)",
        r"(?:llamenme|llamame|me pueden llamar|me podeis llamar)",
        r"queja formal",
        # French
        r"parler (?:a|avec) (?:un humain|une personne|quelqu'?un|un conseiller|une conseillere|"
        r"un responsable|le responsable|le gerant|un agent|un etre humain|un superviseur)",
        r"(?:vraie|vrai) (?:personne|humain)",
        r"etre humain",
        r"(?:rappelez-moi|appelez-moi|me rappeler|m'appeler)",
        r"reclamation (?:officielle|formelle)",
    ),
    "anger": (
        # "Furious with myself" is self-deprecation, not anger at the shop.
        r"(?:angry|furious|fuming|livid|seething|raging|outraged|disgusted|appalled|incensed)"
        r"(?! with (?:myself|ourselves|me))",
        r"(?:disgrace|disgraceful|disgusting|appalling|shocking service|outrageous|"
        r"unacceptable|ridiculous|pathetic|shambles|joke of a|absolute joke|beyond a joke)",
        r"(?:useless|incompetent|clueless|hopeless) (?:company|shop|service|lot|people|idiots|"
        r"bunch|staff|team|bot)",
        r"(?:idiots?|morons?|clowns|cowboys|crooks|thieves|scammers|scumbags|con artists|muppets|"
        r"jokers|amateurs|"
        r"rip-?off merchants|liars)",
        r"(?:this is|what a|total|complete|absolute|such a) (?:a |an |total |complete |"
        r"absolute |)(?:scam|rip-?off|con)",
        r"(?:fuck\w*|f\*+k\w*|shit\w*|bullshit|piss(?:ed)? off|wtf|bastards?|arseholes?|"
        r"assholes?|crap service|bloody useless)",
        r"(?:shocking|atrocious|abysmal|diabolical)(?! pink)",
        r"(?:ruined|wrecked|spoilt|spoiled) (?:our|my|the|his|her) (?:holiday|trip|weekend|"
        r"birthday|christmas|wedding|day|expedition)",
        r"worst (?:company|shop|service|customer service|experience|retailer)",
        r"never (?:shop|order|buy|buying|ordering|shopping) (?:from|with|here)[\w ]{0,12} again",
        r"(?:sick|fed up|tired) (?:and tired |)(?:of|with) (?:waiting|this|you|being ignored|"
        r"chasing)",
        r"(?:third|fourth|fifth|\d+(?:rd|th)) (?:email|message|chaser)",
        r"(?:third|fourth|fifth|\d+(?:rd|th)) time (?:i'?ve|i have|i'?m|i am|of) (?:emailed|asked|"
        r"written|contacted|chased|messaged|asking|writing|chasing|emailing|contacting)",
        r"(?:service|company|shop|store|this) is (?:a |an |)(?:joke|disgrace|shambles|farce)",
        r"how many (?:more )?times",
        r"nobody (?:has |had |)(?:bothered|replied|responded|got back|answered)",
        r"no-?one (?:has |had |)(?:bothered|replied|responded|got back|answered)",
        r"(?:still|yet) (?:no|not had a|haven'?t had a) (?:reply|response|answer)",
        r"(?:being|been|keep being) ignored",
        r"(?:leave|leaving|write|writing|post) (?:a |)(?:bad|terrible|1[- ]star|one[- ]star|"
        r"negative) reviews?",
        # Spanish
        r"(?:enfadad[oa]|enojad[oa]|furios[oa]|indignad[oa]|harto|harta|cabread[oa])",
        r"(?:vergonzoso|una verguenza|inaceptable|intolerable|ridiculo|"
        r"estafa|estafadores|ladrones|sinverguenzas|incompetentes|una mierda|joder)",
        r"(?:peor|pesimo) (?:servicio|tienda|empresa|atencion)",
        r"(?:tercera|cuarta|quinta) vez|nadie (?:me |)(?:responde|contesta|ha respondido)",
        # French
        r"(?:en colere|furieux|furieuse|scandalise|scandalisee|excede|excedee|enerve|enervee)",
        r"(?:scandaleux|inadmissible|inacceptable|honteux|une honte|lamentable|ridicule|"
        r"arnaque|arnaqueurs|escrocs|voleurs|incompetents|merde|putain)",
        r"(?:pire|pitoyable) (?:service|boutique|entreprise|magasin)",
        r"(?:troisieme|quatrieme|cinquieme) (?:fois|relance|message)|personne ne (?:me |)repond",
    ),
    "legal_threat": (
        r"trading standards",
        r"small claims",
        # "I'm a solicitor, which shoes for court?" is a customer's job, not a threat.
        r"(?<!i'm a )(?<!im a )(?<!i am a )(?<!as a )(?:solicitors?|lawyers?|attorneys?|"
        r"barristers?)",
        r"(?:breach|breaches|breached|breaching|violates?|violating|in breach of|under) (?:of |)"
        r"(?:the |my |)(?:consumer rights act|consumer contracts regulations|"
        r"statutory rights)",
        r"(?:take|taking) (?:this|it|the matter|things|matters) further",
        r"legal (?:action|proceedings|advice|team|route|claim|department)",
        r"(?:take|taking|see|seeing|drag) (?:you|this|the company|it|them) (?:to|in) court",
        r"(?:county|small claims|in|to) court",
        r"court (?:action|claim|case|proceedings)",
        r"(?:i'?ll|i will|will|going to|gonna|shall|to|and) sue\b",
        r"sue (?:you|your|the company|them)",
        r"suing",
        r"ombudsman",
        r"citizens advice",
        r"(?:consumer|advertising) (?:standards|protection agency|watchdog)",
        r"watchdog",
        r"letter before (?:action|claim)",
        r"(?:report|reporting) (?:you|this|the company|your company|your shop) to",
        r"(?:information commissioner|\bico\b)",
        # Spanish
        r"(?:abogad[oa]s?|demandar(?:les|los|te|os)?|poner una demanda|denunciar(?:les|los|os)?|"
        r"denuncia|tribunal(?:es)?|juzgado|accion(?:es)? legal(?:es)?|via judicial|"
        r"hoja de reclamaciones|(?:reclamacion|denuncia|queja) (?:en|a|ante) consumo|"
        r"oficina (?:municipal )?(?:del|de) consum\w*|"
        r"asociacion de consumidores|\bocu\b)",
        # French
        r"(?:avocats?|tribunal|poursuites|porter plainte|deposer (?:une )?plainte|"
        r"action en justice|en justice|mise en demeure|mediateur|dgccrf|que choisir|"
        r"associations? de consommateurs)",
    ),
    "chargeback": (
        r"charge-? ?backs?",
        r"(?:report|reported|reporting) (?:it |this |you |the order |)to (?:paypal|klarna|amex|"
        r"visa|mastercard|my bank|the bank|my card provider|my card company)",
        r"(?:dispute|disputed|disputing|contest|contested|contesting|reverse|reversing) "
        r"(?:the |this |my |a |)"
        r"(?:payment|charge|transaction|purchase)",
        r"(?:raise|raised|raising|open|opened|opening|file|filed|filing|start|started|log|logged|"
        r"put in) (?:a |an |)"
        r"(?:dispute|claim|case) (?:with|through|via|on|at) "
        r"(?:my |the |)(?:bank|card|card provider|credit card|paypal|amex|visa|mastercard|klarna)",
        r"(?:bank|card|paypal|credit card|klarna) (?:dispute|claim|case)",
        r"(?:contact|contacting|call|calling|ring|ringing|go to|going to|speak to|speaking to|"
        r"get|getting|ask|asking|involve|involving) (?:my |the )(?:bank|card provider|card company|"
        r"credit card company)",
        r"section 75",
        r"(?:unauthori[sz]ed|fraudulent) (?:charge|payment|transaction)s?",
        r"(?:did ?n'?t|never) authori[sz]e",
        # Spanish
        r"(?:contracargo|retrocargo|devolucion del cargo|anular el cargo|disputa (?:con|en|a) "
        r"(?:mi |el |)(?:banco|paypal|tarjeta)|reclamacion (?:en|a|con|por) paypal|"
        r"(?:llamar|hablar|contactar|acudir) (?:a|con) mi banco|abrir una disputa)",
        # French
        r"(?:retrofacturation|faire opposition|opposition (?:sur|a) (?:la |ma |)carte|"
        r"litige (?:avec |aupres de |sur |)(?:paypal|ma banque|la banque)|ouvrir un litige|"
        r"contester (?:le|la) (?:paiement|prelevement|transaction|debit)|"
        r"(?:contacter|appeler|voir) ma banque)",
    ),
    "safety": (
        r"(?:caught|catch|catches|catching) (?:on |)fire",
        r"(?:set|sets|setting) (?:[\w']+ ){0,3}(?:on fire|alight|ablaze)",
        r"(?:went up|go up|goes up|burst|bursts) (?:in flames|into flames)",
        r"(?:smell|smelt|smelled|stink|stank) (?:of |like )(?:burning|smoke|gas)|burning smell|"
        r"(?:started|was|kept|began) smoking|(?:gas|fuel) leak\w*|(?:leaked|leaking|leaks) gas",
        r"(?:there was|it started|caused|started|causing) (?:a |)(?:small |big |)fire",
        r"(?:hit|struck|whacked|caught|smacked) (?:me|him|her|them|my \w+) (?:in|on) (?:the|my|his|"
        r"her|their) (?:eye|face|head)",
        r"(?:burnt|burned|scalded|singed) (?:my|his|her|their|our|me|him|them|myself|"
        r"himself|herself|the (?:child|kid|baby))",
        r"(?:got|was|were|been|get) (?:badly |seriously |)(?:burnt|burned|scalded|hurt|injured|"
        r"electrocuted)",
        r"(?:first|second|third|1st|2nd|3rd)[- ]degree burns?",
        r"burns? (?:on|to) (?:my|his|her|their)",
        r"(?:injured|wounded|concussion|stitches|fractured)",
        r"injur(?:y|ies) (?:caused|from|because|due to|when|while|after)",
        r"(?:caused|causing|gave (?:me|him|her)|resulted in|led to) (?:an? |)(?:\w+ |)injur\w*",
        r"(?:hurt|cut|injured|gashed|sliced) (?:myself|himself|herself|themselves)",
        rf"(?:hurt|cut|gashed|sliced|broke|broken|sprained|twisted|burnt|burned) "
        rf"(?:my|his|her|their) {_BODY}",
        r"(?:was|started|kept|is|were) bleeding",
        r"(?:a&e|a & e|emergency room|paramedics|ambulance|gp said|doctor said|hospitali[sz]ed)",
        r"(?:went|gone|go|ended up|taken|rushed|admitted|been|trip) (?:to |in |into )(?:the |)"
        r"hospital|in hospital|hospital (?:visit|trip|treatment)",
        r"allergic reaction|(?:had|having|caused) (?:a |an |)(?:bad |severe |)reaction",
        r"(?:anaphyla\w+|hives|(?:a |)(?:nasty |bad |horrible |painful |)rash|"
        r"blisters? (?:all over|on my skin))",
        r"(?:electric(?:al)? shock|electrocuted|sparking|sparked)",
        r"(?:exploded|explosion|blew up|burst into)",
        r"(?:carbon monoxide|toxic fumes|poisoned|poisoning)",
        r"(?:overheat(?:ed|ing|s)|melted|swollen battery|battery (?:swelled|swelling))",
        r"(?:safety (?:issue|hazard|risk|concern|problem)|fire hazard|choking hazard|"
        r"product recall|been recalled|could have (?:killed|hurt|injured|burnt|burned)|"
        r"nearly (?:killed|died))",
        r"(?:choked|choking|suffocat\w+)",
        # Spanish
        r"(?:me queme|se quemo|quemadura\w*|herid[oa]s?|lesion(?:es)?|me corte|se corto|"
        r"reaccion alergica|urgencias|(?:al|en el) hospital|hospitalizad\w+|ambulancia|"
        r"incendio|se incendio|"
        r"prendio fuego|exploto|explosion|intoxica\w+)",
        # French
        r"(?:brulure\w*|(?:me suis|s'est|se sont) (?:brule|blesse|coupe)\w*|blessures?|blesse\w*|"
        r"reaction allergique|urgences|a l'hopital|hospitalise\w*|ambulance|incendie|a pris feu|"
        r"explose|explosion|intoxication)",
    ),
    "privacy_request": (
        r"gdpr|rgpd|lopd|ccpa",
        r"data protection",
        r"(?:data |)subject access request|\bdsar\b|\bsar\b",
        r"right to (?:be forgotten|erasure|access)",
        r"(?:delete|erase|remove|wipe|destroy|purge) (?:all |all of |)(?:my|our) "
        r"(?:personal |customer |)(?:data|details|information|info|account|records|profile)",
        r"(?:delete|erase|remove|wipe|destroy|purge) (?:all |all of |)(?:the |any |)"
        r"(?:personal |)(?:data|information|details|info) (?:you (?:hold|have|store|keep)|"
        r"(?:held|stored|kept) (?:on|about) me)",
        r"(?:personal |)(?:data|information|details|info) (?:you (?:hold|have|store|keep)|"
        r"(?:held|stored|kept)) (?:on|about) me",
        r"what (?:personal |)(?:data|information|info) (?:do you|you) (?:hold|have|store|keep)",
        r"(?:a |)copy of (?:all |)(?:my|the) (?:personal |)(?:data|information)",
        r"erasure",
        r"(?:delete|erase|remove|wipe|destroy|purge) (?:every|all|any) (?:record|records|trace|"
        r"data|information|details)[\w ]{0,20} (?:of|on|about) me",
        r"(?:stop|cease) (?:processing|using|sharing|selling) (?:my|our) (?:personal |)"
        r"(?:data|information|details)",
        r"(?:withdraw|withdrawing|revoke) (?:my |)consent|object(?:ing)? to (?:the |)processing",
        # Spanish
        r"(?:borr\w+|elimin\w+|suprim\w+|cancel\w+) (?:todos |)(?:mis|los) datos",
        r"(?:proteccion de datos|derecho al olvido|acceso a mis datos|mis datos personales|"
        r"derecho de (?:acceso|supresion))",
        # French
        r"(?:supprim\w+|effac\w+|retir\w+) (?:toutes |)(?:mes|les) (?:donnees|informations "
        r"personnelles)",
        r"(?:protection des donnees|droit a l'?oubli|acces a mes donnees|"
        r"mes donnees personnelles|droit d'?acces|droit a l'?effacement|\bcnil\b)",
    ),
    "prompt_injection": (
        r"(?:ignore|disregard|forget|override|bypass) (?:all |any |)(?:of |)(?:the |your |these |"
        r"those |)(?:previous|prior|above|earlier|preceding|original|system|initial|existing|old) "
        r"(?:instructions|prompts?|rules|guidelines|guidance|directions|context|programming|"
        r"messages|commands)",
        r"(?:print|repeat|output|copy|echo) (?:the |all |all the |everything |)(?:text |words |"
        r"content |lines? |)(?:above|before this|preceding)",
        r"(?:you must|you will) now (?:give|issue|ignore|approve|refund|apply|say|reply|respond|"
        r"act|obey)",
        r"(?:ignore|disregard|forget|override|bypass) (?:all |any |)(?:of |)your "
        r"(?:instructions|prompts?|rules|guidelines|programming|guardrails|restrictions|training)",
        r"(?:ignore|disregard|forget) (?:all|any) (?:instructions|rules|guidelines)",
        r"(?:ignore|disregard|forget) (?:everything|all) (?:above|before|you were told|"
        r"you'?ve been told)",
        r"(?:reveal|show|print|repeat|output|tell me|display|leak|dump|give me|what (?:is|are)|"
        r"what'?s) (?:me |)(?:your |the |)(?:full |entire |exact |)(?:system prompt|"
        r"system message|(?:hidden|secret|initial|original) (?:prompt|instructions|rules))",
        r"(?:reveal|print|repeat|output|leak|dump|show me|tell me) your (?:prompt|instructions)",
        r"system prompt|context window",
        r"(?:forget|disregard) (?:the|all|any) (?:rules|instructions)",
        r"(?:ignore|disregard) (?:the|everything|all) above",
        r"(?:you are now|from now on you are|you'?re now|act as|pretend (?:to be|you are)|"
        r"role-?play as|roleplay as|behave as) (?:a |an |the |my |)(?:developer|admin|"
        r"administrator|system|root|dan|unrestricted|jailbroken|different ai|new ai|"
        r"shopify (?:admin|staff)|store owner)",
        r"(?:developer|debug|admin|god|dan|jailbreak) mode",
        r"jailbreak\w*",
        r"new instructions ?:",
        r"(?:^|\n) ?(?:system|assistant) ?:",
        r"\[/?(?:inst|system)\]|<\|?im_(?:start|end)\|?>|</?system>",
        # Spanish
        r"(?:ignora|olvida|omite) (?:todas |)(?:las |tus |)(?:instrucciones|reglas|indicaciones)"
        r"(?: anteriores| previas| del sistema|)",
        r"(?:muestra|muestrame|revela|dime) (?:tu |el |tus |)(?:prompt|instrucciones)"
        r"(?: del sistema| ocultas|)",
        r"(?:actua|haz) como (?:si fueras |)(?:un |el |)(?:desarrollador|administrador)",
        # French
        r"(?:ignore|ignorez|oublie|oubliez) (?:toutes |)(?:les |tes |vos )(?:instructions|"
        r"consignes|regles)(?: precedentes| anterieures| du systeme|)",
        r"(?:montre|montrez|revele|revelez|affiche|affichez)(?: moi|-moi|) (?:ton |votre |le |)"
        r"(?:prompt|instructions (?:systeme|cachees|initiales))",
        r"(?:agis|agissez|fais comme si tu etais) (?:comme |en tant que |)(?:un |le |)"
        r"(?:developpeur|administrateur)",
    ),
}

# Requests that would let someone who is not the order's owner take it over. Used with
# ``sender_owns_order``: unless ownership is confirmed these alone warrant a human.
TAKEOVER = (
    r"(?:change|update|amend|correct|edit|switch) (?:the |my |her |his |their |)"
    r"(?:delivery |shipping |postal |billing |email |e-mail |)"
    r"(?:address|email|e-mail|phone number|mobile number|contact details|name on the order)",
    r"(?:send|deliver|redirect|reroute|re-route|divert|ship|forward) (?:it |them |the order |"
    r"the parcel |my order |the package |her order |his order |)(?:to|at) (?:a |my |this |)"
    r"(?:different|new|another|other|work|office) (?:address|email|location)",
    r"(?:new|different) (?:delivery |shipping |)address",
    r"(?:what|which) (?:address|email|card|payment)[\w ]{0,20}(?:on|for|used for) "
    r"(?:the|this|that|her|his|their) order",
    # Spanish / French
    r"(?:cambiar|modificar) (?:la |el |)(?:direccion|correo|email|telefono)",
    r"(?:changer|modifier) (?:l'|la |le |)(?:adresse|e-?mail|courriel|telephone)",
)

# Signs the takeover request concerns an existing order or account rather than a pre-sale
# question ("can I have it sent to a different address?" before buying is fine).
EXISTING_ORDER = (
    r"(?:my|the|her|his|their|this|that) (?:order|parcel|package|delivery|account)|"
    r"order (?:#|no\.?|number)|#\d{3,}|already (?:ordered|placed|shipped|dispatched)|"
    r"(?:mi|su) (?:pedido|cuenta)|(?:ma|sa) commande|mon compte"
)

# Writing for someone else: with an action on an existing order this needs a human even when
# the caller could not tell who owns the order.
ON_BEHALF = (
    r"on behalf of|for my (?:wife|husband|partner|mum|mother|dad|father|son|daughter|friend|"
    r"boss|colleague)'?s? order|en nombre de|de parte de|au nom de|de la part de"
)

# Things only an order's owner should ask for. When the caller says the sender does *not* own
# the referenced order, any of these warrants a human; a plain "where is it?" does not, since
# the reply can say it is on its way without disclosing anything personal.
OWNER_ACTIONS = (
    r"refund\w*|money back|cancel\w*|return\w*|send (?:it|them|everything) back|exchange|"
    r"swap|invoice|receipt|card details|payment details|password|"
    r"reembols\w*|devol\w*|cancelar|rembours\w*|annul\w*|retour\w*"
)

# Words that show the customer wants money back (for the refund-threshold check).
REFUND_INTENT = (
    r"refund\w*|money back|reimburs\w*|my money|full amount back|compensation|"
    r"reembols\w*|devolu?\w* (?:del|mi|el) dinero|mi dinero|"
    r"(?:devolv|devuelv)\w* (?:el |mi |los |las |)(?:dinero|importe|\d+)|rembours\w*|mon argent"
)

# Currency markers; amounts in any of them are compared against the store's threshold as-is
# (no exchange rates here) which errs towards escalating, the safe side for a guardrail.
CURRENCY_BEFORE = r"£|\$|€|us\$|gbp|usd|eur|cad|aud|nzd|chf"
CURRENCY_AFTER = (
    r"£|\$|€|gbp|usd|eur|cad|aud|pounds?|quid|dollars?|bucks|euros?|libras?|livres?|dolares"
)

NEGATION = (
    r"not|no|never|nobody|none|neither|nor|without|hardly|dont|doesnt|didnt|isnt|wasnt|arent|"
    r"werent|cant|cannot|wont|wouldnt|shouldnt|havent|hasnt|\w+n't|"
    r"ni|pas|jamais|sans|aucun|aucune|nunca|sin|tampoco|nada|ningun|ninguna|nadie"
)
# Words that end the clause a negation governs ("not a bot, but I'm furious").
CLAUSE_BREAK = r"[.,;:!?\n()]|\bbut\b|\bpero\b|\bmais\b|\band\b|\bet\b|\by\b"
