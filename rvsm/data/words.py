"""An embedded English word list (no downloads at run time) and its per-split partition."""

from __future__ import annotations

import zlib

WORDS = tuple(
    """
    about above across after again against almost alone along already always among animal
    answer apple around away baby back ball band bank basket beach bear beauty because become
    bed before began begin behind being believe bell below best better between big bird black
    blood blue board boat body bone book born both bottom box boy bread break bright bring
    brother brown build burn busy butter buy cake call came camp candle capital captain care
    carry case castle cat catch cause center chair change chart cheap check chief child choose
    church circle city class clean clear climb clock close cloth cloud coast coat cold color
    column come common copy corn corner cotton could count country course cover cow crop cross
    crowd cry cup current cut dance dark daughter dead deal dear death decide deep desert
    design dinner direct doctor dog dollar door double down draw dream dress drink drive drop
    during duck dust early earth east easy eat edge effect egg eight either electric else end
    enemy energy engine enough enter equal even evening event ever every exact example except
    excite expect face fact fair fall family famous farm fast father fear feed feel feet fell
    field fight figure fill final find fine finger finish fire first fish five flat floor
    flower fly follow food foot force forest forget form found four free fresh friend front
    fruit full game garden gather gentle girl give glad glass gold good grass gray great green
    ground group grow guess guide half hand happy hard hat head hear heard heart heat heavy
    held help high hill history hold hole home hope horse hot hour house huge human hundred
    hunt hurry idea inch indeed iron island join joy jump just keep kept key kind king kitchen
    knew know lady lake land large last late laugh lead learn least leave left less letter
    level light like line lion list listen little live long look lost loud love low machine
    made main major make many map mark market master match matter may mean measure meat meet
    melody metal middle might mile milk mind minute miss modern moment money month moon more
    morning most mother motion mountain mouth move much music must name nation nature near neck
    need never new next night nine noise noon north nose note nothing notice number ocean
    office often oil old once only open order other outside over own page paint pair paper
    parent park part party pass past path pattern pay people perhaps person pick picture piece
    place plain plan plant play please poem point poor position possible pound power press
    pretty print problem product pull push put quick quiet quite race radio rain raise reach
    read ready real reason record red region remember repeat reply rest result rich ride right
    ring rise river road rock roll room root rope rose round rule run safe said sail salt same
    sand save say school science score sea season seat second section see seed seem sell send
    sense sentence serve settle seven shall shape share sharp sheet shell shine ship shoe shop
    short should shoulder shout show side sign silent silver simple since sing sister sit six
    size skill skin sky sleep slow small smell smile snow soft soil soldier solve song soon
    sound south space speak special speed spell spend spoke spot spring square stand star start
    state station stay steam steel step stick still stone stood stop store story straight
    strange stream street strong student study subject sudden sugar summer sun supply sure
    surface swim system table tail take talk tall teach team tell temple ten test thank thick
    thin thing think third those though thought three through throw tiny together told tone
    took tool total touch toward town track trade train travel tree trip trouble true try tube
    turn twenty type under unit until upon usual valley value various very view village visit
    voice vowel wait walk wall want warm wash watch water wave weather week weight west wheel
    where while white whole wide wife wild will wind window winter wire wish woman wonder wood
    word work world write written wrong yard year yellow young
    """.split()
)

SPLITS = ("train", "val", "test")


def words_for_split(split: str, disjoint: bool) -> tuple[str, ...]:
    """All words, or (``disjoint``) a stable 70/10/20 partition of them by a hash of the word."""
    if not disjoint:
        return WORDS
    bucket = {"train": range(0, 7), "val": range(7, 8), "test": range(8, 10)}[split]
    return tuple(w for w in WORDS if zlib.crc32(w.encode()) % 10 in bucket)
